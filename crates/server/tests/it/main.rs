//! The server's integration tests, in one binary (one link step instead of one per file).
//! `kit` is the shared harness; each other module is one area of behaviour.

mod kit;

mod access;
mod cli;
mod close_frames;
mod cluster;
mod connections;
mod crash;
mod edge;
mod feed;
mod feed_cluster;
mod feed_stream;
mod held;
mod history;
mod http_transports;
mod limits;
mod memory;
mod open_documents;
mod origins;
mod outage;
mod panics;
mod presence;
mod proxies;
mod slow_commit;
mod sync;

//! The server's integration tests, in one binary (one link step instead of one per file).
//! `kit` is the shared harness; each other module is one area of behaviour.

mod kit;

mod access;
mod apply_time;
mod bodies;
mod bus_forgery;
mod cli;
mod client_limits;
mod close_frames;
mod cluster;
mod connections;
mod crash;
mod edge;
mod feed;
mod feed_authors;
mod feed_cluster;
mod feed_stream;
mod held;
mod history;
mod hosts;
mod http_transports;
mod identity;
mod invisible_text;
mod limits;
mod memory;
mod open_documents;
mod origins;
mod outage;
mod panics;
mod pre_auth;
mod presence;
mod proxies;
mod revocation;
mod rich;
mod share_links;
mod slow_commit;
mod sync;

//! Tandem's sync server as a library, so integration tests and the binary share one
//! `start`. See ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod hocuspocus;
pub mod metrics;
pub mod names;
pub mod ops;
pub mod peer;
pub mod protocol;
pub mod registry;
pub mod room;
pub mod session;
pub mod share;
pub mod state;
pub mod text;
pub mod transport;
pub mod web;
pub mod writer;
pub mod yjs_bounds;

#[cfg(test)]
mod import_rule;

pub use app::{start, start_with_store, Server};
pub use config::ServeConfig;

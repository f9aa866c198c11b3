//! Tandem's sync server as a library, so integration tests and the binary share one
//! `start`. See ARCHITECTURE.md for the map and the rule of what may import what.
//!
//! The surface is what the binary and the tests use: starting a server, its settings,
//! tokens, and the text of a document. Every other module is private.

#![warn(unreachable_pub)]

mod allowed_hosts;
mod api;
mod app;
mod apply_debt;
pub mod auth;
mod auth_error;
pub mod check;
mod client_addr;
mod client_limits;
mod cluster;
pub mod config;
pub mod data_commands;
mod db_args;
mod edge;
mod error;
mod extract;
mod feed;
pub mod feed_client;
mod hocuspocus;
mod host_check;
mod identity;
mod import;
mod link_checks;
mod listener;
mod log_limit;
mod metric_names;
mod names;
mod open_files;
mod openapi_parts;
mod ops;
mod origin;
mod peer;
mod protocol;
mod rate_cooldown;
mod receiving;
mod registry;
pub mod render;
mod retention;
mod revocation;
mod room;
mod route_table;
mod scrape_gauges;
mod session;
mod share;
mod share_links;
mod share_quota;
mod state;
pub mod text;
mod transliterate;
mod transport;
mod unauthenticated;
mod usage;
mod web;
mod webhook_config;
mod webhooks;
mod writer;
mod yjs_bounds;

#[cfg(test)]
mod import_rule;

pub use app::{start, start_with_store, Server};
pub use config::ServeConfig;
pub use log_limit::LogLimit;
pub use open_files::raise_open_file_limit;
/// A token's access level, which is the access its peers get; and the transports
/// `--disable-transports` names.
pub use peer::{Access, Transport};
pub use usage::UsageLimits;
pub use webhook_config::{WebhookArgs, WebhooksAction, WebhooksCommand};
pub use webhooks::cli::run as webhooks_command;

/// The functions that read untrusted bytes, for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::protocol::decode_frame;
    pub use crate::yjs_bounds::{
        check_awareness, check_state_vector, check_update, missing_dependency,
    };
}

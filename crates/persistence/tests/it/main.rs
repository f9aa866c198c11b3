//! The store's integration tests, in one binary (one link step instead of one per file, and
//! `common`, the shared harness, is used whole, not a part of it per binary). Each other
//! module is one area of the `Store` trait, most run on both backends (`for_both_backends!`).

#[macro_use]
mod common;

mod compaction;
mod content_kind;
mod feed;
mod group_commit;
mod load_isolation;
mod log_position;
mod named_versions;
mod sqlite_checkpoint;
mod store;
mod titles;
mod versions;
mod webhooks;

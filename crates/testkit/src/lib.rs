//! Test support shared by the workspace's test suites (a dev-dependency only), so each
//! suite does not carry its own copy: a throwaway PostgreSQL database per test. Its own test,
//! `tests/file_length.rs`, holds the repository to its rule of at most 400 lines a file.

mod pg;

pub use pg::{admin_url, with_database, TestDatabase, DEFAULT_PG_URL};

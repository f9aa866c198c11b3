//! Throwaway PostgreSQL databases (from `tandem-testkit`, shared with the store's tests), and
//! their URLs pointed through a proxy for the outage tests.

pub use tandem_testkit::{admin_url, TestDatabase};

/// The same URL with another host and port (to go through a proxy).
pub fn with_host_port(url: &str, host: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, rest) = match rest.rsplit_once('@') {
        Some((u, r)) => (format!("{u}@"), r),
        None => (String::new(), rest),
    };
    let path = rest.find(['/', '?']).map(|i| &rest[i..]).unwrap_or("");
    format!("{scheme}://{user}{host}:{port}{path}")
}

/// Host and port of the admin URL's server (for the outage proxy).
pub fn host_port(url: &str) -> (String, u16) {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(5432)),
        None => (hostport.to_string(), 5432),
    }
}

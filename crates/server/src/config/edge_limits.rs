//! The limits at the edge: what one client may hold and from where.

use clap::Args;

/// What one client may hold and from where: connections (`listener/`), the time it has to
/// send a request, the web pages that may write (`origin.rs`) and the documents it may have
/// open (`client_limits.rs`). A client's address is the one the server sees, or the one a trusted
/// reverse proxy forwarded (`client_addr.rs`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connections and clients")]
pub struct EdgeLimits {
    /// Open connections (TCP, WebSocket included) on the server; past it new ones get
    /// 503. Keep it under the open-file limit.
    #[arg(long, env = "TANDEM_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Open connections from one client address; past it new ones get 429. Connections
    /// from a trusted proxy are not counted per address (the proxy limits its clients).
    /// The default fits an office of 2,000 people behind one NAT address with two tabs
    /// each (SECURITY.md, "One address, many people").
    #[arg(long, env = "TANDEM_MAX_CONNECTIONS_PER_IP", default_value_t = 4096)]
    pub max_connections_per_ip: usize,
    /// New connections a second from one client address, with a burst of ten seconds'
    /// worth; past it a connection is closed unanswered at accept. 0: no limit.
    #[arg(
        long,
        env = "TANDEM_MAX_NEW_CONNECTIONS_PER_IP_PER_SEC",
        default_value_t = 200
    )]
    pub max_new_connections_per_ip_per_sec: u32,
    /// Reverse proxies (addresses or networks, comma separated: `10.0.0.5,172.16.0.0/12`)
    /// whose `X-Forwarded-For` / `X-Real-IP` name the client for the limits per address and
    /// the logs. Default none: those headers are ignored.
    #[arg(
        long,
        env = "TANDEM_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = crate::client_addr::parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds a connection has to send a request's headers, from when it opens or its
    /// previous response ends; past it the connection is closed. 0: no limit.
    #[arg(long, env = "TANDEM_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// Seconds a request has to send its body once its handler reads it (after the
    /// credential is checked); past it 408. 0: no limit.
    #[arg(long, env = "TANDEM_BODY_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub body_read_timeout_secs: u64,
    /// Web origins (`https://app.example.com`, comma separated) whose pages may open
    /// WebSockets and send POST/PUT/PATCH/DELETE requests; others get 403. Requests without
    /// an `Origin` header and pages served from the server's own host always pass.
    /// Default: every origin.
    #[arg(
        long,
        env = "TANDEM_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub allowed_origins: Vec<String>,
    /// Distinct documents one client address may have open at once, over all its
    /// connections and sessions; past it opening another gets 429. What they weigh is
    /// bounded by `--max-memory-per-client`.
    #[arg(long, env = "TANDEM_MAX_DOCUMENTS_PER_IP", default_value_t = 4096)]
    pub max_documents_per_ip: usize,
    /// Distinct documents one access token may have open at once (the admin key is not
    /// counted); past it opening another gets 429.
    #[arg(long, env = "TANDEM_MAX_DOCUMENTS_PER_TOKEN", default_value_t = 64)]
    pub max_documents_per_token: usize,
    /// Estimated memory, in bytes, of the documents one client address (and one access
    /// token) may have loaded: those it has open and those it left less than the unload
    /// grace ago. Past it, opening another document gets 429 and an update that would
    /// add to them is refused (close 4413, HTTP 429). The estimate counts encoded bytes
    /// plus 384 bytes per Yjs struct. 0: no limit.
    #[arg(long, env = "TANDEM_MAX_MEMORY_PER_CLIENT", default_value_t = 256 * 1024 * 1024)]
    pub max_memory_per_client: u64,
    /// Bytes of WebSocket messages over 64 KiB one client address may be sending at once,
    /// counted from each frame's header (the server reserves a frame's declared length
    /// when its header arrives). Past it such a message waits unread (TCP flow control
    /// holds the client) until others of the address are received; smaller messages
    /// always pass, and an address sending nothing else may send any message up to
    /// `--max-message-size`. The default lets a team behind one NAT address paste 16
    /// documents of 16 MiB at once (SECURITY.md, "One address, many people"). 0: no limit.
    #[arg(
        long,
        env = "TANDEM_MAX_RECEIVING_BYTES_PER_IP",
        default_value_t = 256 * 1024 * 1024
    )]
    pub max_receiving_bytes_per_ip: u64,
    /// The same, over all client addresses together. 0: no limit.
    #[arg(
        long,
        env = "TANDEM_MAX_RECEIVING_BYTES",
        default_value_t = 1024 * 1024 * 1024
    )]
    pub max_receiving_bytes: u64,
}

/// An origin as browsers send it: `scheme://host[:port]` in lower case, without the
/// scheme's default port, or `null`. Used for the setting and for the `Origin` header, so
/// both compare as strings.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let origin = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    if origin == "null" {
        return Ok(origin);
    }
    let bad = || format!("{raw:?} is not an origin like https://example.com[:port]");
    let (scheme, authority) = origin.split_once("://").ok_or_else(bad)?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority_ok = !authority.is_empty()
        && !authority.contains(|c: char| "/?#@ ".contains(c) || c.is_ascii_control());
    if !scheme_ok || !authority_ok {
        return Err(bad());
    }
    let default_port = match scheme {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    };
    let authority = match default_port {
        Some(port) => authority.strip_suffix(port).unwrap_or(authority),
        None => authority,
    };
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_compare_as_browsers_send_them() {
        assert_eq!(
            parse_origin(" HTTPS://Example.com:443/ ").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(parse_origin("null").unwrap(), "null");
        for bad in [
            "example.com",
            "https://",
            "https://a.com/path",
            "https://u@a.com",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}

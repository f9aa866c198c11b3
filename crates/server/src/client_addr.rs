//! Who the client is, by address: the TCP peer, or, when the peer is a trusted reverse
//! proxy (`--trusted-proxies`), the address that proxy forwarded in `X-Forwarded-For` or
//! `X-Real-IP`. Every limit per client address (sessions, documents) and the logs use it.
//!
//! Headers are believed only from a trusted peer: anyone else could write any address in
//! them and take a fresh budget with every request. `X-Forwarded-For` is read from the
//! right, since each proxy appends the address it received the request from: the right-most
//! address that is not itself a trusted proxy is the client (what a client wrote to the
//! left of it is ignored). `X-Real-IP` is used only without `X-Forwarded-For`.
//!
//! Connection caps are counted at accept time, before any header, so for a trusted proxy
//! they cannot know the client: `listener/` does not count a trusted proxy's connections
//! per address (the total cap still applies), and the proxy limits connections per client
//! itself (`limit_conn` in deploy/nginx.conf).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed: addresses and networks.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub(crate) fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request that arrived from `peer` with `headers`.
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        if forwarded.is_empty() {
            return headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_addr)
                .unwrap_or(peer);
        }
        // Walk from the right. Each address was written by the hop to its right, which is
        // trusted so far; an entry that is no address leaves the last trusted hop.
        let mut hop = peer;
        for entry in forwarded.iter().rev() {
            let Some(ip) = parse_addr(entry) else {
                return hop;
            };
            if !self.contains(ip) {
                return ip;
            }
            hop = ip;
        }
        // Every address is a trusted proxy: the farthest one is all that is known.
        hop
    }
}

/// An address as proxies write it: `203.0.113.7`, `2001:db8::1`, or with a port
/// (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_addr(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .or_else(|_| raw.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// One entry of `--trusted-proxies`: an address (`10.0.0.5`) or a network (`10.0.0.0/8`,
/// `fd00::/8`).
pub(crate) fn parse_trusted_proxy(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or a network like 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|p| parse_trusted_proxy(p).unwrap())
                .collect(),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let t = proxies(&["10.0.0.1"]);
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        assert_eq!(t.client_ip(ip("10.0.0.2"), &h), ip("10.0.0.2"));
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_client() {
        let t = proxies(&["10.0.0.1", "192.168.0.0/16"]);
        let peer = ip("10.0.0.1");
        // What the client wrote itself (1.1.1.1) is left of what the proxies appended.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 192.168.4.4")]);
        assert_eq!(t.client_ip(peer, &h), ip("203.0.113.7"));
        // Several header lines read as one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.8:4711"),
        ]);
        assert_eq!(t.client_ip(peer, &h), ip("203.0.113.8"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:80")]);
        assert_eq!(t.client_ip(peer, &h), ip("2001:db8::1"));
        // X-Forwarded-For wins over X-Real-IP; X-Real-IP alone is used.
        let h = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-real-ip", "9.9.9.9")]);
        assert_eq!(t.client_ip(peer, &h), ip("203.0.113.9"));
        let h = headers(&[("x-real-ip", "9.9.9.9")]);
        assert_eq!(t.client_ip(peer, &h), ip("9.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(t.client_ip(peer, &HeaderMap::new()), peer);
        // The peer as an IPv4-mapped IPv6 address is still trusted.
        let h = headers(&[("x-real-ip", "9.9.9.9")]);
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.1"), &h), ip("9.9.9.9"));
    }

    #[test]
    fn garbage_and_all_trusted_chains_stop_at_the_last_trusted_hop() {
        let t = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let h = headers(&[("x-forwarded-for", "203.0.113.7, unknown, 10.2.2.2")]);
        assert_eq!(t.client_ip(peer, &h), ip("10.2.2.2"));
        let h = headers(&[("x-forwarded-for", "10.3.3.3, 10.2.2.2")]);
        assert_eq!(t.client_ip(peer, &h), ip("10.3.3.3"));
        let h = headers(&[("x-real-ip", "nonsense")]);
        assert_eq!(t.client_ip(peer, &h), peer);
    }

    #[test]
    fn settings_parse_addresses_and_networks() {
        assert_eq!(
            parse_trusted_proxy("10.0.0.5").unwrap().to_string(),
            "10.0.0.5/32"
        );
        assert_eq!(
            parse_trusted_proxy(" 10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_trusted_proxy("fd00::/8").unwrap().to_string(),
            "fd00::/8"
        );
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }
}

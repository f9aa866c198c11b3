//! Request forgery: a webhook URL must not reach the server's own network. An address is
//! refused when it is loopback, private, link-local (cloud metadata at 169.254.169.254),
//! shared (CGNAT), unspecified, multicast, broadcast or reserved, in IPv4 or IPv6
//! (IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4 address inside), unless
//! `--webhook-allow-networks` lists it. The check is on the addresses a delivery actually
//! connects to: the deliverer resolves names itself ([`GuardedResolver`]) and hands the
//! HTTP client only the addresses that pass.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;

/// Which networks are allowed even though they are internal.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressPolicy {
    allow: Arc<Vec<IpNet>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum UrlError {
    #[error("the webhook URL is not a valid absolute URL")]
    Malformed,
    #[error("a webhook URL must be http:// or https://")]
    Scheme,
    #[error("a webhook URL must not carry a user name or password")]
    Credentials,
    #[error("the webhook URL's host {0:?} does not resolve")]
    Unresolved(String),
    #[error("the webhook URL's host resolves to {addr}, a {kind} address; webhooks may not reach internal networks unless --webhook-allow-networks lists them")]
    Forbidden { addr: IpAddr, kind: &'static str },
}

impl AddressPolicy {
    pub(crate) fn new(allow: Vec<IpNet>) -> Self {
        AddressPolicy {
            allow: Arc::new(allow),
        }
    }

    /// `Err(kind)` for an address a webhook may not reach.
    pub(crate) fn check(&self, addr: IpAddr) -> Result<(), &'static str> {
        let embedded = match addr {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |ip: IpAddr| self.allow.iter().any(|net| net.contains(&ip));
        if allowed(addr) || embedded.is_some_and(allowed) {
            return Ok(());
        }
        match classify(addr) {
            Some(kind) => Err(kind),
            None => Ok(()),
        }
    }

    /// Checks a URL when an endpoint is created: its form, and every address its host
    /// resolves to now.
    pub(crate) async fn check_url(&self, raw: &str) -> Result<reqwest::Url, UrlError> {
        let url = reqwest::Url::parse(raw).map_err(|_| UrlError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let host = url.host_str().ok_or(UrlError::Malformed)?.to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        for addr in self.resolve_all(&host, port).await? {
            self.check(addr.ip()).map_err(|kind| UrlError::Forbidden {
                addr: addr.ip(),
                kind,
            })?;
        }
        Ok(url)
    }

    async fn resolve_all(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, UrlError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| UrlError::Unresolved(host.to_string()))?
            .collect();
        if found.is_empty() {
            return Err(UrlError::Unresolved(host.to_string()));
        }
        Ok(found)
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST => {
            Some(low)
        }
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Why an address is internal, or `None` for a public one.
fn classify(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "cloud metadata",
        (0, _) => "unspecified",
        (127, _) => "loopback",
        (10, _) | (172, 16..=31) | (192, 168) => "private",
        (169, 254) => "link-local",
        (100, 64..=127) => "shared (CGNAT)",
        (192, 0) if c == 0 => "reserved",
        (198, 18..=19) => "reserved",
        (224..=239, _) => "multicast",
        (240..=255, _) => "reserved",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfd00 if s[1] == 0x0ec2 => "cloud metadata",
        0xfc00..=0xfdff => "private",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// A resolver for the HTTP client that drops every address the policy refuses, so the
/// client can only connect to checked addresses (a name that resolves to an internal
/// address, or is rebound to one after the endpoint was created, reaches nothing).
pub(crate) struct GuardedResolver {
    pub(crate) policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(kind) => {
                        refused = Some((addr.ip(), kind));
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = match refused {
                    Some((ip, kind)) => format!("{host} resolves to {ip}, a {kind} address"),
                    None => format!("{host} does not resolve"),
                };
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, addr: &str) -> bool {
        policy.check(addr.parse().unwrap()).is_err()
    }

    #[test]
    fn internal_addresses_are_refused() {
        let policy = AddressPolicy::default();
        for addr in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(refused(&policy, addr), "{addr} must be refused");
        }
        for addr in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(&policy, addr), "{addr} is public");
        }
    }

    #[test]
    fn allowed_networks_pass_and_only_they() {
        let policy = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(!refused(&policy, "127.0.0.1"));
        assert!(!refused(&policy, "::ffff:127.0.0.1"));
        assert!(refused(&policy, "10.0.0.1"));
        assert!(refused(&policy, "169.254.169.254"));
        assert!(refused(&policy, "::1"));
    }

    #[tokio::test]
    async fn urls_are_checked_without_sending_anything() {
        let policy = AddressPolicy::default();
        let err = |r: Result<reqwest::Url, UrlError>| r.unwrap_err();
        assert!(matches!(
            err(policy
                .check_url("http://169.254.169.254/latest/meta-data")
                .await),
            UrlError::Forbidden {
                kind: "cloud metadata",
                ..
            }
        ));
        assert!(matches!(
            err(policy.check_url("http://10.0.0.1/hook").await),
            UrlError::Forbidden {
                kind: "private",
                ..
            }
        ));
        assert!(matches!(
            err(policy.check_url("http://[::ffff:7f00:1]:8080/").await),
            UrlError::Forbidden {
                kind: "loopback",
                ..
            }
        ));
        assert!(matches!(
            err(policy.check_url("http://localhost:9/").await),
            UrlError::Forbidden {
                kind: "loopback",
                ..
            }
        ));
        assert_eq!(
            err(policy.check_url("ftp://example.com/").await),
            UrlError::Scheme
        );
        assert_eq!(
            err(policy.check_url("http://u:p@93.184.215.14/").await),
            UrlError::Credentials
        );
        assert_eq!(
            err(policy.check_url("not a url").await),
            UrlError::Malformed
        );
        assert!(policy.check_url("https://93.184.215.14/hook").await.is_ok());
    }
}

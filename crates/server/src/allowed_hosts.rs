//! Which host names the server answers to: `--allowed-hosts`, against DNS rebinding.
//!
//! A page on `evil.example` can make its own name resolve to the server's address (a
//! loopback or intranet one) after the page has loaded. The browser then sends the page's
//! requests to the server as same-origin requests, with `Host: evil.example` and a matching
//! `Origin`, so neither the origin check's same-host exemption nor the browser's
//! same-origin policy stops them, and the page acts with the visitor's network position.
//! The name in `Host` is the one thing such a request cannot fake: it is the attacker's.
//!
//! Always answered: hosts given as an IP address (rebinding needs a name) and `localhost`
//! names (browsers resolve them to loopback themselves). Other names must be listed, except
//! on a server that listens on a non-loopback address *and* has a secret: there every
//! document needs a token the attacker's page does not have, so the name adds nothing and
//! any is answered unless names are listed. Refused requests get 421 with a JSON message
//! (`host_check.rs`).

use std::{net::IpAddr, sync::Arc};

/// `--allowed-hosts`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Host names")]
pub struct HostArgs {
    /// Host names (comma separated, no port) the server answers to besides IP addresses
    /// and `localhost` names: `tandem.example.com`, `*.example.com` (its subdomains) or
    /// `*` (any). Others get 421. Default: none, or any on a non-loopback listen address
    /// with a secret (SECURITY.md, "DNS rebinding").
    #[arg(
        long,
        env = "TANDEM_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_parser = parse_allowed_host
    )]
    pub allowed_hosts: Vec<String>,
}

/// One entry of the setting, lower case without a trailing dot.
pub(crate) fn parse_allowed_host(raw: &str) -> Result<String, String> {
    let lower = raw.trim().to_ascii_lowercase();
    if lower == "*" {
        return Ok(lower);
    }
    let host = lower.trim_end_matches('.').to_string();
    let name = host.strip_prefix("*.").unwrap_or(&host);
    let valid = !name.is_empty()
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(is_name_byte));
    if valid {
        Ok(host)
    } else {
        Err(format!(
            "{raw:?} is not a host name like tandem.example.com, *.example.com or * (no port)"
        ))
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[derive(Debug)]
pub(crate) struct AllowedHosts {
    any: bool,
    names: Vec<String>,
}

impl AllowedHosts {
    pub(crate) fn new(args: &HostArgs, listen: IpAddr, has_secret: bool) -> Arc<AllowedHosts> {
        let any = args.allowed_hosts.iter().any(|h| h == "*")
            || (args.allowed_hosts.is_empty() && !listen.is_loopback() && has_secret);
        Arc::new(AllowedHosts {
            any,
            names: args.allowed_hosts.clone(),
        })
    }

    /// Whether a request with this `Host` value is answered.
    pub(crate) fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let Some(name) = name_of(host) else {
            return false;
        };
        if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        self.names
            .iter()
            .any(|allowed| match allowed.strip_prefix('*') {
                Some(suffix) => name.ends_with(suffix),
                None => *allowed == name,
            })
    }
}

/// The name in a `Host` value, lower case, without port, brackets or trailing dot.
fn name_of(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']')?.0.to_string()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
            Some(_) => return None,
            None => host,
        }
    };
    let name = name.trim_end_matches('.');
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str], listen: &str, secret: bool) -> Arc<AllowedHosts> {
        let args = HostArgs {
            allowed_hosts: list
                .iter()
                .map(|h| parse_allowed_host(h).unwrap())
                .collect(),
        };
        AllowedHosts::new(&args, listen.parse().unwrap(), secret)
    }

    #[test]
    fn addresses_and_localhost_names_always_pass() {
        for (listen, secret) in [("127.0.0.1", true), ("0.0.0.0", false), ("::1", false)] {
            let h = hosts(&[], listen, secret);
            for ok in [
                "127.0.0.1:8080",
                "[::1]:8080",
                "10.1.2.3",
                "localhost:8080",
                "LocalHost.",
                "app.localhost:3000",
            ] {
                assert!(h.allows(ok), "{listen} {ok}");
            }
            for bad in [
                "evil.example",
                "evil.example:8080",
                "localhost.evil.example",
                "127.0.0.1.evil.example",
                "a:b:c",
                "",
            ] {
                assert!(!h.allows(bad), "{listen} {bad}");
            }
        }
    }

    #[test]
    fn listed_names_and_the_default_with_a_secret() {
        let h = hosts(&["Docs.Example.com.", "*.corp.example"], "0.0.0.0", true);
        assert!(h.allows("docs.example.com:443"));
        assert!(h.allows("wiki.corp.example"));
        assert!(!h.allows("corp.example"));
        assert!(!h.allows("evil.example"));
        // Nothing listed: any name on a public address with a secret, none on loopback.
        assert!(hosts(&[], "0.0.0.0", true).allows("evil.example"));
        assert!(!hosts(&[], "127.0.0.1", true).allows("evil.example"));
        assert!(hosts(&["*"], "127.0.0.1", false).allows("evil.example"));
        for bad in ["a.com:80", "http://a.com", "a..com", "*.", " "] {
            assert!(parse_allowed_host(bad).is_err(), "{bad}");
        }
    }
}

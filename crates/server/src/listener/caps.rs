//! How many connections are open, in total and per client address, and the permit each
//! admitted connection holds until its socket is closed (WebSocket included: the permit
//! travels with the socket through the upgrade).
//!
//! A trusted proxy's connections count in the total only: at accept time nothing says
//! which clients they carry (the forwarding headers come later, and a proxy reuses one
//! connection for several clients), and capping the proxy per address would cap all its
//! clients together. The proxy limits connections per client itself.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use super::rate::ConnectionRate;
use crate::{client_addr::TrustedProxies, metric_names as m, rate_cooldown::RateCooldown};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Total(usize),
    PerIp(usize),
    /// New connections per second from one address (`rate.rs`): closed unanswered.
    Rate,
    /// The address keeps running into its message rate (`rate_cooldown.rs`): closed
    /// unanswered for the cool-down.
    Cooldown,
}

impl Refusal {
    /// The label of `tandem_limit_refusals_total`.
    pub(crate) fn limit(self) -> &'static str {
        match self {
            Refusal::Total(_) => "connections_total",
            Refusal::PerIp(_) => "connections_per_ip",
            Refusal::Rate => "connection_rate_per_ip",
            Refusal::Cooldown => "message_rate_cooldown",
        }
    }

    pub(crate) fn message(self) -> String {
        match self {
            Refusal::Total(n) => format!(
                "too many connections on this server \
                 (limit {n}; raise --max-connections / TANDEM_MAX_CONNECTIONS)"
            ),
            Refusal::PerIp(n) => format!(
                "too many connections from this address \
                 (limit {n}; raise --max-connections-per-ip / TANDEM_MAX_CONNECTIONS_PER_IP)"
            ),
            Refusal::Rate => "too many new connections from this address (raise \
                              --max-new-connections-per-ip-per-sec / \
                              TANDEM_MAX_NEW_CONNECTIONS_PER_IP_PER_SEC)"
                .to_string(),
            Refusal::Cooldown => "this address keeps exceeding its message rate (raise \
                                  --max-updates-per-client-per-sec / \
                                  TANDEM_MAX_UPDATES_PER_CLIENT_PER_SEC)"
                .to_string(),
        }
    }
}

pub(crate) struct Caps {
    max_total: usize,
    max_per_ip: usize,
    trusted: TrustedProxies,
    cooldown: Arc<RateCooldown>,
    open: Mutex<Open>,
}

struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    rate: ConnectionRate,
}

impl Caps {
    pub(crate) fn new(
        max_total: usize,
        max_per_ip: usize,
        new_per_ip_per_sec: u32,
        trusted: TrustedProxies,
        cooldown: Arc<RateCooldown>,
    ) -> Arc<Caps> {
        Arc::new(Caps {
            max_total,
            max_per_ip,
            trusted,
            cooldown,
            open: Mutex::new(Open {
                total: 0,
                per_ip: HashMap::new(),
                rate: ConnectionRate::new(new_per_ip_per_sec),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `ip`, or says which limit it would pass.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let ip = ip.to_canonical();
        let counted = (!self.trusted.contains(ip)).then_some(ip);
        let now = std::time::Instant::now();
        // Before the rate of new connections: a refused one does not spend it.
        if counted.is_some_and(|ip| self.cooldown.cooling(ip, now)) {
            return Err(Refusal::Cooldown);
        }
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        if let Some(ip) = counted {
            if !open.rate.take(ip, now) {
                return Err(Refusal::Rate);
            }
            let from_ip = open.per_ip.entry(ip).or_default();
            if *from_ip >= self.max_per_ip {
                if *from_ip == 0 {
                    open.per_ip.remove(&ip);
                }
                return Err(Refusal::PerIp(self.max_per_ip));
            }
            *from_ip += 1;
        }
        open.total += 1;
        metrics::gauge!(m::TCP_CONNECTIONS).set(open.total as f64);
        Ok(Permit {
            caps: self.clone(),
            ip: counted,
        })
    }
}

/// One admitted connection; dropping it (with the socket) frees its place.
pub(crate) struct Permit {
    caps: Arc<Caps>,
    /// The address it counts against; `None` for a trusted proxy's connection.
    ip: Option<IpAddr>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.caps.lock();
        open.total -= 1;
        if let Some(ip) = self.ip {
            if let Some(n) = open.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    open.per_ip.remove(&ip);
                }
            }
        }
        metrics::gauge!(m::TCP_CONNECTIONS).set(open.total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_cooldown() -> Arc<RateCooldown> {
        Arc::new(RateCooldown::new(0))
    }

    #[test]
    fn connections_are_counted_per_address_and_in_total() {
        let caps = Caps::new(3, 2, 0, TrustedProxies::default(), no_cooldown());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert_eq!(caps.admit(a).err(), Some(Refusal::PerIp(2)));
        let message = Refusal::PerIp(2).message();
        assert!(
            message.contains(
                "limit 2; raise --max-connections-per-ip / TANDEM_MAX_CONNECTIONS_PER_IP"
            ),
            "{message}"
        );
        let _b1 = caps.admit(b).unwrap();
        assert_eq!(caps.admit(b).err(), Some(Refusal::Total(3)));
        drop(a1);
        // The same address as an IPv4-mapped IPv6 address counts as one.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let _a3 = caps.admit(mapped).unwrap();
        assert_eq!(caps.admit(a).err(), Some(Refusal::Total(3)));
    }

    #[test]
    fn new_connections_past_the_rate_are_refused() {
        let caps = Caps::new(100, 100, 1, TrustedProxies::default(), no_cooldown());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        // The burst is ten seconds' worth; closing each connection does not give it back.
        for _ in 0..10 {
            drop(caps.admit(a).unwrap());
        }
        assert_eq!(caps.admit(a).err(), Some(Refusal::Rate));
        assert!(caps.admit("10.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_trusted_proxy_counts_in_the_total_only() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let trusted =
            TrustedProxies::new(vec![
                crate::client_addr::parse_trusted_proxy("10.0.0.9").unwrap()
            ]);
        let caps = Caps::new(3, 1, 0, trusted, no_cooldown());
        let _p1 = caps.admit(proxy).unwrap();
        let p2 = caps.admit(proxy).unwrap();
        let _a = caps.admit("10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(caps.admit(proxy).err(), Some(Refusal::Total(3)));
        drop(p2);
        let _p3 = caps.admit(proxy).unwrap();
    }

    #[test]
    fn an_address_cooling_down_is_refused_and_a_trusted_proxy_is_not() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let trusted =
            TrustedProxies::new(vec![
                crate::client_addr::parse_trusted_proxy("10.0.0.9").unwrap()
            ]);
        let cooldown = Arc::new(RateCooldown::new(60));
        let caps = Caps::new(100, 100, 0, trusted, cooldown.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let now = std::time::Instant::now();
        for ip in [a, proxy] {
            for _ in 0..crate::rate_cooldown::STRIKES {
                cooldown.strike(ip, now);
            }
        }
        assert_eq!(caps.admit(a).err(), Some(Refusal::Cooldown));
        assert!(caps.admit("10.0.0.2".parse().unwrap()).is_ok());
        assert!(
            caps.admit(proxy).is_ok(),
            "a proxy carries other clients too"
        );
    }
}

//! Hocuspocus sockets that have not yet had a token accepted, counted per client address.
//!
//! Every other way in checks its credential before the server holds anything for the
//! client, but a Hocuspocus socket opens first and authenticates afterwards, document by
//! document. Until its first token is accepted a socket costs memory its client has not
//! earned, so each address may hold only a few such sockets, the server at most
//! [`MAX_TOTAL`] of them, and each has a deadline (`transport/hocuspocus`).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::metric_names as m;

/// `--max-unauthenticated-per-ip` and `--auth-timeout-secs`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Hocuspocus before authentication")]
pub struct PreAuthArgs {
    /// Hocuspocus sockets one client address may have open before any of their tokens
    /// is accepted; past it new ones get 429.
    #[arg(long, env = "TANDEM_MAX_UNAUTHENTICATED_PER_IP", default_value_t = 16)]
    pub max_unauthenticated_per_ip: usize,
    /// Seconds a Hocuspocus socket has to get a token accepted; past it the socket is
    /// closed with 4408.
    #[arg(long, env = "TANDEM_AUTH_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_timeout_secs: u64,
}

impl PreAuthArgs {
    pub(crate) fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }
}

/// Such sockets on the whole server, whatever their addresses: with at most 64 KiB read
/// from each before authentication (`gate.rs`), about 64 MiB.
pub(crate) const MAX_TOTAL: usize = 1024;

pub(crate) struct Unauthenticated {
    per_ip: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Past a cap.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TooMany {
    #[error(
        "too many connections waiting for authentication from this address (limit {0}; raise \
         --max-unauthenticated-per-ip / TANDEM_MAX_UNAUTHENTICATED_PER_IP)"
    )]
    PerIp(usize),
    #[error("too many connections waiting for authentication on this server (limit {MAX_TOTAL})")]
    Total,
}

impl Unauthenticated {
    pub(crate) fn new(per_ip: usize) -> Arc<Unauthenticated> {
        Arc::new(Unauthenticated {
            per_ip,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a socket from `ip` until the returned slot is dropped (its first token is
    /// accepted, or it closes).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, TooMany> {
        let ip = ip.to_canonical();
        let mut open = self.lock();
        if open.values().sum::<usize>() >= MAX_TOTAL {
            metrics::counter!(m::LIMIT_REFUSALS, "limit" => "unauthenticated_total").increment(1);
            return Err(TooMany::Total);
        }
        let n = open.entry(ip).or_default();
        if *n >= self.per_ip {
            if *n == 0 {
                open.remove(&ip);
            }
            metrics::counter!(m::LIMIT_REFUSALS, "limit" => "unauthenticated_per_ip").increment(1);
            return Err(TooMany::PerIp(self.per_ip));
        }
        *n += 1;
        Ok(Slot {
            owner: self.clone(),
            ip,
        })
    }
}

/// One socket waiting for authentication.
pub(crate) struct Slot {
    owner: Arc<Unauthenticated>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.owner.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_per_address_until_dropped() {
        let caps = Unauthenticated::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = caps.admit(a).unwrap();
        let _second = caps.admit("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert!(caps.admit(a).is_err());
        let _other = caps.admit("10.0.0.2".parse().unwrap()).unwrap();
        drop(first);
        let _third = caps.admit(a).unwrap();
    }

    #[test]
    fn the_server_holds_a_bounded_number_in_all() {
        let caps = Unauthenticated::new(1);
        let held: Vec<Slot> = (0..MAX_TOTAL)
            .map(|i| {
                caps.admit(IpAddr::from([10, 1, (i >> 8) as u8, i as u8]))
                    .unwrap()
            })
            .collect();
        assert!(matches!(
            caps.admit("10.9.9.9".parse().unwrap()),
            Err(TooMany::Total)
        ));
        drop(held);
        caps.admit("10.9.9.9".parse().unwrap()).unwrap();
    }

    #[test]
    fn the_refusal_names_the_setting_to_raise() {
        let message = TooMany::PerIp(16).to_string();
        assert!(
            message
                .contains("raise --max-unauthenticated-per-ip / TANDEM_MAX_UNAUTHENTICATED_PER_IP"),
            "{message}"
        );
    }
}

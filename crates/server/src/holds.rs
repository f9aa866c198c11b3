//! Which documents each client has open, counted per client address and per access token
//! over all its connections and sessions, so that one client cannot load the whole
//! database into memory by opening document after document.
//!
//! What counts is distinct documents: ten tabs of one document hold one. A WebSocket holds
//! its document while it is open, an SSE or polling session while it exists, and a
//! Hocuspocus socket each document joined on it. The admin key is not a token here (it
//! is counted by address only).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use crate::metric_names as m;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HoldError {
    #[error("too many documents open from this address (limit {0}); close some first")]
    PerIp(usize),
    #[error("too many documents open with this access token (limit {0}); close some first")]
    PerToken(usize),
}

pub(crate) struct Holds {
    max_per_ip: usize,
    max_per_token: usize,
    open: Mutex<Open>,
}

/// Per client, how many holds each of its documents has.
#[derive(Default)]
struct Open {
    by_ip: HashMap<IpAddr, HashMap<String, usize>>,
    by_token: HashMap<[u8; 32], HashMap<String, usize>>,
}

/// Whether one more hold on `doc` fits: a document the client holds already always does.
fn fits(docs: Option<&HashMap<String, usize>>, doc: &str, max: usize) -> bool {
    docs.is_none_or(|d| d.contains_key(doc) || d.len() < max)
}

fn add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, HashMap<String, usize>>, key: K, doc: &str) {
    *map.entry(key)
        .or_default()
        .entry(doc.to_string())
        .or_default() += 1;
}

fn release<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, HashMap<String, usize>>,
    key: &K,
    doc: &str,
) {
    let Some(docs) = map.get_mut(key) else { return };
    if let Some(n) = docs.get_mut(doc) {
        *n -= 1;
        if *n == 0 {
            docs.remove(doc);
        }
    }
    if docs.is_empty() {
        map.remove(key);
    }
}

impl Holds {
    pub(crate) fn new(max_per_ip: usize, max_per_token: usize) -> Arc<Holds> {
        Arc::new(Holds {
            max_per_ip,
            max_per_token,
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `doc` as open for the client at `ip` with `token` (the digest of its access
    /// token; `None` without one, or for the admin key) until the hold is dropped.
    pub(crate) fn hold(
        self: &Arc<Self>,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        doc: &str,
    ) -> Result<Hold, HoldError> {
        let ip = ip.to_canonical();
        let mut open = self.lock();
        let refused = if !fits(open.by_ip.get(&ip), doc, self.max_per_ip) {
            Some(HoldError::PerIp(self.max_per_ip))
        } else if token.is_some_and(|t| !fits(open.by_token.get(&t), doc, self.max_per_token)) {
            Some(HoldError::PerToken(self.max_per_token))
        } else {
            None
        };
        if let Some(err) = refused {
            let limit = match err {
                HoldError::PerIp(_) => "documents_per_ip",
                HoldError::PerToken(_) => "documents_per_token",
            };
            metrics::counter!(m::LIMIT_REFUSALS, "limit" => limit).increment(1);
            return Err(err);
        }
        add(&mut open.by_ip, ip, doc);
        if let Some(t) = token {
            add(&mut open.by_token, t, doc);
        }
        Ok(Hold {
            holds: self.clone(),
            ip,
            token,
            doc: doc.into(),
        })
    }
}

/// One connection's or session's hold on a document; dropping it releases it.
pub(crate) struct Hold {
    holds: Arc<Holds>,
    ip: IpAddr,
    token: Option<[u8; 32]>,
    doc: Box<str>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut open = self.holds.lock();
        release(&mut open.by_ip, &self.ip, &self.doc);
        if let Some(t) = &self.token {
            release(&mut open.by_token, t, &self.doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_documents_are_counted_per_address_and_per_token() {
        let holds = Holds::new(2, 1);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = holds.hold(ip, None, "a").unwrap();
        let _a2 = holds.hold(ip, None, "a").unwrap(); // the same document again
        let _b = holds.hold(ip, None, "b").unwrap();
        assert_eq!(holds.hold(ip, None, "c").err(), Some(HoldError::PerIp(2)));
        let _t = holds.hold(other, Some([7; 32]), "a").unwrap();
        assert_eq!(
            holds.hold(other, Some([7; 32]), "b").err(),
            Some(HoldError::PerToken(1))
        );
        // "a" stays held by the second connection to it; releasing both frees the place.
        drop(a1);
        assert!(holds.hold(ip, None, "c").is_err());
        drop(_a2);
        let _c = holds.hold(ip, None, "c").unwrap();
        assert!(holds.lock().by_ip[&ip].len() == 2);
    }
}

//! Which documents each client has open, counted per client address and per access token
//! over all its connections and sessions, and what they weigh in memory, so that one client
//! cannot load the whole database, or build huge documents, and take the server's memory.
//!
//! What counts is distinct documents: ten tabs of one document hold one. A WebSocket holds
//! its document while it is open, an SSE or polling session while it exists, and a
//! Hocuspocus socket each document joined on it. A document stays loaded for the unload
//! grace after its last client leaves, so an open document lingers that long after it is closed
//! (while the document is still loaded): a client that opens document after document is
//! held back by what the server really keeps, not by what it has open at the moment. The
//! admin key is not a token here (it is counted by address only).
//!
//! Each loaded document's room reports its weight (an estimate of its memory, see
//! `room::weight`); a client's weight is the sum over the documents it holds. Past
//! `--max-memory-per-client`, it may not open another document nor make one grow.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::{metric_names as m, usage::Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientLimitError {
    #[error(
        "too many documents open from this address (limit {0}; raise --max-documents-per-ip \
         / TANDEM_MAX_DOCUMENTS_PER_IP); close some first"
    )]
    PerIp(usize),
    #[error(
        "too many documents open with this access token (limit {0}; raise \
         --max-documents-per-token / TANDEM_MAX_DOCUMENTS_PER_TOKEN); close some first"
    )]
    PerToken(usize),
    #[error(
        "the documents this client has open take too much memory (limit {} MiB; raise \
         --max-memory-per-client / TANDEM_MAX_MEMORY_PER_CLIENT); close some first",
        .0 / (1024 * 1024)
    )]
    Memory(u64),
}

/// The limits, from the server's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLimitSettings {
    pub per_ip: usize,
    pub per_token: usize,
    /// Estimated bytes of the documents one client holds; 0: no limit.
    pub memory_per_client: u64,
    /// How long a closed document still counts while its document stays loaded.
    pub linger: Duration,
}

pub(crate) struct ClientLimits {
    limits: ClientLimitSettings,
    open: Mutex<Open>,
    /// What each client spends over time: the other half of its limits.
    usage: Usage,
}

/// A client, as the limits see it: its address and the digest of its access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientKey {
    ip: IpAddr,
    token: Option<[u8; 32]>,
}

impl ClientKey {
    /// The client's address, for limits kept elsewhere (write quota, apply-time budget).
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The digest of its access token, if it has one.
    pub(crate) fn token(&self) -> Option<[u8; 32]> {
        self.token
    }
}

/// Per client, its documents; and each loaded document's weight.
#[derive(Default)]
struct Open {
    by_ip: HashMap<IpAddr, Docs>,
    by_token: HashMap<[u8; 32], Docs>,
    weights: HashMap<String, DocWeight>,
}

/// A loaded document's weight as the limits see it. Its room keeps a copy of the handle
/// and sets it after every accepted update without taking the limits' lock (one lock per
/// update, for the check, instead of two); readers sum it under the lock.
#[derive(Clone, Default)]
pub(crate) struct DocWeight(Arc<AtomicU64>);

impl DocWeight {
    /// The document weighs `bytes` now.
    pub(crate) fn set(&self, bytes: u64) {
        let before = self.0.swap(bytes, Ordering::Relaxed);
        metrics::gauge!(m::DOCUMENT_MEMORY).increment(bytes as f64 - before as f64);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

type Docs = HashMap<String, Entry>;

/// One client's place in one document: connections and sessions that have it open, or
/// none and lingering until `until`.
#[derive(Default)]
struct Entry {
    open: usize,
    until: Option<Instant>,
}

/// Forgets lingering entries past their time or whose document has unloaded.
fn purge(docs: &mut Docs, weights: &HashMap<String, DocWeight>, now: Instant) {
    docs.retain(|doc, e| {
        e.open > 0 || (e.until.is_some_and(|u| u > now) && weights.contains_key(doc))
    });
}

/// Whether one more open document: `doc` fits: a document the client holds already always does.
fn fits(docs: Option<&Docs>, doc: &str, max: usize) -> bool {
    docs.is_none_or(|d| d.contains_key(doc) || d.len() < max)
}

/// The client's weight with `doc` counted among its documents.
fn weight(docs: Option<&Docs>, weights: &HashMap<String, DocWeight>, doc: &str) -> u64 {
    let of = |d: &str| weights.get(d).map_or(0, DocWeight::get);
    match docs {
        Some(docs) => {
            let held: u64 = docs.keys().map(|d| of(d)).sum();
            if docs.contains_key(doc) {
                held
            } else {
                held + of(doc)
            }
        }
        None => of(doc),
    }
}

fn add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Docs>, key: K, doc: &str) {
    let e = map
        .entry(key)
        .or_default()
        .entry(doc.to_string())
        .or_default();
    e.open += 1;
    e.until = None;
}

fn release<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Docs>,
    key: &K,
    doc: &str,
    linger_until: Option<Instant>,
) {
    let Some(docs) = map.get_mut(key) else { return };
    if let Some(e) = docs.get_mut(doc) {
        e.open = e.open.saturating_sub(1);
        if e.open == 0 {
            match linger_until {
                Some(until) => e.until = Some(until),
                None => {
                    docs.remove(doc);
                }
            }
        }
    }
    if docs.is_empty() {
        map.remove(key);
    }
}

fn refused(err: ClientLimitError) -> ClientLimitError {
    let limit = match err {
        ClientLimitError::PerIp(_) => "documents_per_ip",
        ClientLimitError::PerToken(_) => "documents_per_token",
        ClientLimitError::Memory(_) => "memory_per_client",
    };
    metrics::counter!(m::LIMIT_REFUSALS, "limit" => limit).increment(1);
    err
}

impl ClientLimits {
    pub(crate) fn new(limits: ClientLimitSettings, usage: Usage) -> Arc<ClientLimits> {
        Arc::new(ClientLimits {
            limits,
            open: Mutex::new(Open::default()),
            usage,
        })
    }

    /// The rate and write quota of each client (`usage`).
    pub(crate) fn usage(&self) -> &Usage {
        &self.usage
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `doc` as open for the client at `ip` with `token` (the digest of its access
    /// token; `None` without one, or for the admin key) until the returned [`OpenDocument`] is dropped.
    pub(crate) fn open(
        self: &Arc<Self>,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        doc: &str,
    ) -> Result<OpenDocument, ClientLimitError> {
        self.open_at(ip, token, doc, Instant::now())
    }

    fn open_at(
        self: &Arc<Self>,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        doc: &str,
        now: Instant,
    ) -> Result<OpenDocument, ClientLimitError> {
        let ip = ip.to_canonical();
        let l = self.limits;
        let mut guard = self.lock();
        let open = &mut *guard;
        if let Some(d) = open.by_ip.get_mut(&ip) {
            purge(d, &open.weights, now);
        }
        if let Some(d) = token.and_then(|t| open.by_token.get_mut(&t)) {
            purge(d, &open.weights, now);
        }
        let by_ip = open.by_ip.get(&ip);
        let by_token = token.and_then(|t| open.by_token.get(&t));
        // A client at its memory limit may still open what it already has open.
        let over = |docs: Option<&Docs>| {
            l.memory_per_client > 0
                && !docs.is_some_and(|d| d.contains_key(doc))
                && weight(docs, &open.weights, doc) >= l.memory_per_client
        };
        if !fits(by_ip, doc, l.per_ip) {
            return Err(refused(ClientLimitError::PerIp(l.per_ip)));
        }
        if token.is_some() && !fits(by_token, doc, l.per_token) {
            return Err(refused(ClientLimitError::PerToken(l.per_token)));
        }
        if over(by_ip) || (token.is_some() && over(by_token)) {
            return Err(refused(ClientLimitError::Memory(l.memory_per_client)));
        }
        add(&mut open.by_ip, ip, doc);
        if let Some(t) = token {
            add(&mut open.by_token, t, doc);
        }
        Ok(OpenDocument {
            limits: self.clone(),
            client: ClientKey { ip, token },
            doc: doc.into(),
        })
    }

    /// `--max-memory-per-client` (0: no limit); admission checks it (`room::admission`).
    pub(crate) fn memory_per_client(&self) -> u64 {
        self.limits.memory_per_client
    }

    /// What `client`'s open documents weigh, `doc` among them: the larger of its address's
    /// and its token's sums.
    pub(crate) fn weight_of(&self, client: &ClientKey, doc: &str) -> u64 {
        let now = Instant::now();
        let mut guard = self.lock();
        let open = &mut *guard;
        if let Some(d) = open.by_ip.get_mut(&client.ip) {
            purge(d, &open.weights, now);
        }
        if let Some(d) = client.token.and_then(|t| open.by_token.get_mut(&t)) {
            purge(d, &open.weights, now);
        }
        let by_ip = weight(open.by_ip.get(&client.ip), &open.weights, doc);
        let by_token = client
            .token
            .map_or(0, |t| weight(open.by_token.get(&t), &open.weights, doc));
        by_ip.max(by_token)
    }

    /// The room of `doc` says what the document weighs now; the handle it may set later
    /// updates through without the lock ([`DocWeight::set`]).
    pub(crate) fn set_weight(&self, doc: &str, bytes: u64) -> DocWeight {
        let handle = {
            let mut open = self.lock();
            match open.weights.get(doc) {
                Some(w) => w.clone(),
                None => {
                    let w = DocWeight::default();
                    open.weights.insert(doc.to_string(), w.clone());
                    w
                }
            }
        };
        handle.set(bytes);
        handle
    }

    /// The room of `doc` has unloaded: it weighs nothing, and open documents lingering on it end.
    #[cfg(test)]
    pub(crate) fn unloaded(&self, doc: &str) {
        let w = self.lock().weights.remove(doc);
        if let Some(w) = w {
            w.set(0);
        }
    }

    /// The room of `doc` whose weight is `handle` has unloaded: it weighs nothing, and open
    /// documents lingering on it end. A newer room of the same document that registered meanwhile keeps its entry.
    pub(crate) fn unloaded_room(&self, doc: &str, handle: &DocWeight) {
        let mut open = self.lock();
        if open
            .weights
            .get(doc)
            .is_some_and(|w| Arc::ptr_eq(&w.0, &handle.0))
        {
            open.weights.remove(doc);
            drop(open);
            handle.set(0);
        }
    }

    fn close(&self, hold: &OpenDocument, now: Instant) {
        let mut open = self.lock();
        // Only a loaded document is kept in memory after its clients leave.
        let until = (!self.limits.linger.is_zero() && open.weights.contains_key(&*hold.doc))
            .then(|| now + self.limits.linger);
        release(&mut open.by_ip, &hold.client.ip, &hold.doc, until);
        if let Some(t) = &hold.client.token {
            release(&mut open.by_token, t, &hold.doc, until);
        }
    }
}

/// One connection's or session's place among its client's open documents; dropping it closes it (after the
/// linger, if the document stays loaded).
pub(crate) struct OpenDocument {
    limits: Arc<ClientLimits>,
    client: ClientKey,
    doc: Box<str>,
}

impl OpenDocument {
    /// Who holds it: the room charges what this client's updates add to it.
    pub(crate) fn client(&self) -> ClientKey {
        self.client.clone()
    }
}

impl Drop for OpenDocument {
    fn drop(&mut self) {
        let limits = self.limits.clone();
        limits.close(self, Instant::now());
    }
}

#[cfg(test)]
#[path = "client_limits_tests.rs"]
mod tests;

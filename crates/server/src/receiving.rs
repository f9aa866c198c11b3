//! The bytes of WebSocket messages still being received, per client address and in total.
//!
//! The WebSocket library reserves (and zero-fills) a frame's whole declared length as soon
//! as it has read the frame's header, and keeps a message until it is whole. So a client
//! that declares large frames and sends them slowly, or not at all, makes the server hold
//! up to `--max-message-size` per connection. `transport::metered` reads each frame's
//! header before the library does and asks an [`Account`] for the frame's bytes; a frame
//! that does not fit waits unread, in the client's kernel (TCP flow control), until
//! another message of its address (or anyone's, for the total) is handed on.
//!
//! - **Small messages always pass.** A message of at most [`SMALL`] bytes is not counted:
//!   a keystroke from an address whose budget is full of pastes still goes through.
//! - **Alone, any message passes.** An address holding nothing may start a message larger
//!   than its budget (up to the size limit), and so may anyone when nothing is held in
//!   total: a budget under `--max-message-size` delays big messages, never refuses them.
//! - **No waiting while holding.** A message is charged whole at its first frame (a
//!   fragmented one, the size limit), so a message that waits holds nothing and one that
//!   holds never waits: what is held, its clients can always complete. (Only frames no
//!   valid client sends, control frames over 125 bytes, can wait while their message
//!   holds bytes; those connections hold their budget as if they had stopped sending.)

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Waker},
};

use crate::metric_names as m;

/// Messages up to this size are never counted nor held back.
pub(crate) const SMALL: u64 = 64 * 1024;

/// `--max-receiving-bytes-per-ip` and `--max-receiving-bytes` (0: no limit).
pub(crate) struct Receiving {
    per_ip: u64,
    total: u64,
    pool: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    held: u64,
    per_ip: HashMap<IpAddr, Address>,
    /// Connections waiting for room in the total, by account.
    waiting: HashMap<u64, Waker>,
    next_id: u64,
}

#[derive(Default)]
struct Address {
    held: u64,
    /// Connections of this address waiting for room in its budget.
    waiting: HashMap<u64, Waker>,
}

impl Receiving {
    pub(crate) fn new(per_ip: u64, total: u64) -> Arc<Receiving> {
        let limit = |n: u64| if n == 0 { u64::MAX } else { n };
        Arc::new(Receiving {
            per_ip: limit(per_ip),
            total: limit(total),
            pool: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The account of one WebSocket from `ip`.
    pub(crate) fn account(self: &Arc<Self>, ip: IpAddr) -> Account {
        let mut pool = self.lock();
        pool.next_id += 1;
        Account {
            receiving: self.clone(),
            ip: ip.to_canonical(),
            id: pool.next_id,
            message: 0,
            big: false,
            received: 0,
            waiting: false,
        }
    }

    /// Bytes held now, in total and by `ip`.
    #[cfg(test)]
    pub(crate) fn held(&self, ip: IpAddr) -> (u64, u64) {
        let pool = self.lock();
        let of_ip = pool.per_ip.get(&ip.to_canonical()).map_or(0, |a| a.held);
        (pool.held, of_ip)
    }
}

impl Pool {
    /// Takes `bytes` back from `ip` and wakes whoever waits for them.
    fn release(&mut self, ip: IpAddr, bytes: u64) {
        self.held -= bytes;
        metrics::gauge!(m::RECEIVING_BYTES).set(self.held as f64);
        if let Some(address) = self.per_ip.get_mut(&ip) {
            address.held -= bytes;
            address.waiting.drain().for_each(|(_, w)| w.wake());
        }
        self.waiting.drain().for_each(|(_, w)| w.wake());
        self.forget_if_idle(ip);
    }

    fn forget_if_idle(&mut self, ip: IpAddr) {
        if self
            .per_ip
            .get(&ip)
            .is_some_and(|a| a.held == 0 && a.waiting.is_empty())
        {
            self.per_ip.remove(&ip);
        }
    }
}

/// One WebSocket's share: what the message it is receiving holds.
pub(crate) struct Account {
    receiving: Arc<Receiving>,
    ip: IpAddr,
    id: u64,
    /// Bytes charged for the message being received (counted in the pool once `big`).
    message: u64,
    /// The message being received is past [`SMALL`]: the pool holds `message` for it.
    big: bool,
    /// Bytes of whole messages not yet taken by the reader, released on [`Account::taken`].
    received: u64,
    /// Waiting for room (its waker is registered), counted once per wait.
    waiting: bool,
}

impl Account {
    /// Asks for `bytes` more for the message being received. `false`: they do not fit, and
    /// `cx` is woken when some are released.
    pub(crate) fn charge(&mut self, bytes: u64, cx: &mut Context<'_>) -> bool {
        let after = self.message.saturating_add(bytes);
        if !self.big && after <= SMALL {
            self.message = after;
            return true;
        }
        // Becoming big, the message's small start is counted too.
        let ask = if self.big { bytes } else { after };
        let (per_ip, total) = (self.receiving.per_ip, self.receiving.total);
        let mut pool = self.receiving.lock();
        let pool = &mut *pool;
        let address = pool.per_ip.entry(self.ip).or_default();
        let ip_fits = address.held == 0 || address.held.saturating_add(ask) <= per_ip;
        let total_fits = pool.held == 0 || pool.held.saturating_add(ask) <= total;
        if !(ip_fits && total_fits) {
            if !ip_fits {
                address.waiting.insert(self.id, cx.waker().clone());
            }
            if !total_fits {
                pool.waiting.insert(self.id, cx.waker().clone());
            }
            pool.forget_if_idle(self.ip);
            if !self.waiting {
                self.waiting = true;
                metrics::counter!(m::RECEIVING_WAITS).increment(1);
            }
            return false;
        }
        address.held += ask;
        address.waiting.remove(&self.id);
        pool.held += ask;
        pool.waiting.remove(&self.id);
        metrics::gauge!(m::RECEIVING_BYTES).set(pool.held as f64);
        self.message = after;
        self.big = true;
        self.waiting = false;
        true
    }

    /// The message being received is whole. A small one is forgotten; a big one stays
    /// held until the reader asks for more ([`Account::taken`]), having handed it on.
    pub(crate) fn received(&mut self) {
        if self.big {
            self.received += self.message;
            self.big = false;
        }
        self.message = 0;
    }

    /// The reader asks for more bytes: the messages it received are handed on.
    pub(crate) fn taken(&mut self) {
        if self.received > 0 {
            let bytes = std::mem::take(&mut self.received);
            self.receiving.lock().release(self.ip, bytes);
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let held = self.received + if self.big { self.message } else { 0 };
        if held == 0 && !self.waiting {
            return;
        }
        let mut pool = self.receiving.lock();
        pool.waiting.remove(&self.id);
        if let Some(address) = pool.per_ip.get_mut(&self.ip) {
            address.waiting.remove(&self.id);
        }
        if held > 0 {
            pool.release(self.ip, held);
        } else {
            pool.forget_if_idle(self.ip);
        }
    }
}

#[cfg(test)]
#[path = "receiving_tests.rs"]
mod tests;

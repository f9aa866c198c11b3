//! How many share links one token may mint: [`LINKS_PER_WINDOW`] per [`WINDOW`].
//!
//! A share token mints links without the admin key, and each link is a new token with
//! budgets of its own (documents, sessions, memory per token). Unbounded, one share token
//! could mint a fresh set of budgets per request. The admin key is not counted: it can
//! mint any token anyway.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Links one token may mint per window.
pub(crate) const LINKS_PER_WINDOW: u32 = 20;
/// The window: an hour.
pub(crate) const WINDOW: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub(crate) struct ShareQuota {
    /// Per token digest: when its window started and the links minted in it.
    minted: Mutex<HashMap<[u8; 32], (Instant, u32)>>,
}

impl ShareQuota {
    /// Counts one link for `token`; the seconds until it may mint again when its quota is
    /// used up.
    pub(crate) fn take(&self, token: [u8; 32]) -> Result<(), u64> {
        let now = Instant::now();
        let mut minted = self.minted.lock().unwrap_or_else(|e| e.into_inner());
        // Old windows go, so the map holds only tokens active within the hour.
        minted.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        let (start, n) = minted.entry(token).or_insert((now, 0));
        if *n >= LINKS_PER_WINDOW {
            return Err((WINDOW - now.duration_since(*start)).as_secs().max(1));
        }
        *n += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_has_its_own_quota() {
        let quota = ShareQuota::default();
        for _ in 0..LINKS_PER_WINDOW {
            quota.take([1; 32]).unwrap();
        }
        let wait = quota.take([1; 32]).unwrap_err();
        assert!(wait > 3500 && wait <= 3600, "{wait}");
        quota.take([2; 32]).unwrap();
    }
}

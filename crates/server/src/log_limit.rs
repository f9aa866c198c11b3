//! A rate limit on log lines, per place in the code that writes them.
//!
//! Every connection writes a line when it opens and one when it closes, and a peer
//! closed for bad input writes why. That is what an operator wants to read, until one
//! hostile client opens and breaks connections as fast as it can: the server then wrote
//! about 0.5 MB of logs a second, a load of its own on the disk and on whatever collects
//! the logs. So each call site may write `per_sec` WARN, INFO (and more verbose) lines a
//! second, in bursts of ten seconds' worth; what is over is dropped and counted
//! (`tandem_log_lines_suppressed_total`), and a warning every ten seconds says how many.
//! Warnings are limited too: anyone who can make the server warn (forged cluster bus
//! frames, fake heartbeats) could otherwise write as fast as they can send, and 50,000
//! fake heartbeats once wrote 16.4 MB. Errors are never dropped: they are rare by design,
//! and the ones that matter.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tracing::{callsite::Identifier, Event, Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

use crate::metric_names as m;

/// Seconds' worth of lines a call site may write at once.
const BURST_SECS: f64 = 10.0;

/// The filter; cheap to clone (one shared state).
#[derive(Clone)]
pub struct LogLimit {
    inner: Arc<Inner>,
}

struct Inner {
    per_sec: f64,
    buckets: Mutex<HashMap<Identifier, Bucket>>,
    suppressed: AtomicU64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LogLimit {
    /// `per_sec` lines a second per call site; 0: no limit.
    pub fn new(per_sec: u32) -> LogLimit {
        LogLimit {
            inner: Arc::new(Inner {
                per_sec: f64::from(per_sec),
                buckets: Mutex::new(HashMap::new()),
                suppressed: AtomicU64::new(0),
            }),
        }
    }

    /// Lines dropped so far.
    pub fn suppressed(&self) -> u64 {
        self.inner.suppressed.load(Ordering::Relaxed)
    }

    fn admit(&self, meta: &Metadata<'_>) -> bool {
        let inner = &self.inner;
        if inner.per_sec == 0.0 || *meta.level() == Level::ERROR {
            return true;
        }
        let now = Instant::now();
        let burst = inner.per_sec * BURST_SECS;
        let mut buckets = inner.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(meta.callsite()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(b.at).as_secs_f64() * inner.per_sec;
        b.tokens = (b.tokens + refill).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return true;
        }
        drop(buckets);
        inner.suppressed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::LOG_SUPPRESSED).increment(1);
        false
    }

    /// Every `every`, a warning with the number of lines dropped since the last one (none
    /// when nothing was dropped). Runs until the process ends.
    pub async fn report(self, every: Duration) {
        let mut told = 0;
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = self.suppressed();
            if now > told {
                tracing::warn!(
                    suppressed = now - told,
                    "log lines over the rate limit were dropped (TANDEM_LOG_LINES_PER_SEC)"
                );
                told = now;
            }
        }
    }
}

impl<S> Filter<S> for LogLimit {
    /// Call sites stay enabled: the limit is on events, counted as they happen.
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        self.admit(event.metadata())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use tracing_subscriber::{layer::SubscriberExt, Layer};

    use super::*;

    /// Collects what the formatter writes, one line per event.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn count(&self, needle: &str) -> usize {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().filter(|l| l.contains(needle)).count()
        }
    }

    #[test]
    fn each_call_site_gets_its_burst_and_errors_always_pass() {
        let lines = Lines::default();
        let writer = lines.clone();
        let limit = LogLimit::new(5);
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_filter(limit.clone());
        let subscriber = tracing_subscriber::registry().with(fmt);
        let started = Instant::now();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..1000 {
                tracing::info!("opened");
                tracing::info!("closed");
                tracing::warn!("forged frame");
                tracing::error!("trouble");
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        // A burst of 10 s x 5 lines per call site, plus what refilled while the loop ran.
        let most = 50 + (elapsed * 5.0).ceil() as usize;
        for site in ["opened", "closed", "forged frame"] {
            let shown = lines.count(site);
            assert!((50..=most).contains(&shown), "{site}: {shown} lines");
        }
        assert_eq!(lines.count("trouble"), 1000);
        let shown = lines.count("opened") + lines.count("closed") + lines.count("forged frame");
        assert_eq!(limit.suppressed() as usize, 3000 - shown);
    }

    #[test]
    fn two_warning_call_sites_have_separate_budgets() {
        let lines = Lines::default();
        let writer = lines.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_filter(LogLimit::new(1));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(fmt), || {
            for _ in 0..100 {
                tracing::warn!("heartbeat rejected");
            }
            tracing::warn!("another warning");
        });
        assert!((10..=11).contains(&lines.count("heartbeat rejected")));
        assert_eq!(lines.count("another warning"), 1);
    }

    #[test]
    fn zero_means_no_limit() {
        let lines = Lines::default();
        let writer = lines.clone();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_filter(LogLimit::new(0));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(fmt), || {
            for _ in 0..500 {
                tracing::info!("opened");
            }
        });
        assert_eq!(lines.count("opened"), 500);
    }
}

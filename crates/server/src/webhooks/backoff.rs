//! When to try a failed delivery again: exponential back-off with full jitter, capped, for
//! as long as the retry window (`--webhook-retry-secs`, default 24 h) lasts.

use std::time::Duration;

/// The first retry waits about this long ...
const FIRST: Duration = Duration::from_secs(1);
/// ... doubling each time, up to this.
const CAP: Duration = Duration::from_secs(3600);

/// The delay before attempt `attempt + 1`, after `attempt` failed ones (1 or more), given a
/// uniform random `jitter` in [0, 1). Half the delay is fixed and half random, so retries
/// of many messages spread out but none comes back at once.
pub(crate) fn delay(attempt: u32, jitter: f64) -> Duration {
    let exp = FIRST.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let base = exp.min(CAP);
    base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Whether a message first tried `age` ago may still be retried.
pub(crate) fn within_window(age: Duration, window: Duration) -> bool {
    age < window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_then_stops_growing() {
        assert_eq!(delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(delay(5, 1.0), Duration::from_secs(16));
        assert_eq!(delay(13, 1.0), CAP);
        assert_eq!(delay(400, 1.0), CAP);
        assert_eq!(delay(400, 0.0), CAP / 2);
    }

    #[test]
    fn jitter_spreads_within_the_upper_half() {
        let d = delay(4, 0.25);
        assert!(
            d > Duration::from_secs(4) && d < Duration::from_secs(8),
            "{d:?}"
        );
    }

    #[test]
    fn the_window_ends_retries() {
        let day = Duration::from_secs(86400);
        assert!(within_window(Duration::from_secs(3600), day));
        assert!(!within_window(day, day));
    }
}

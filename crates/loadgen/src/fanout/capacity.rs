//! `capacity`: the highest delivery rate a server sustains. R documents × C clients stay
//! connected while the update rate rises step by step; a step passes when every delivery
//! arrived and its p99 latency is within the limit. Rates rise by a factor until a step
//! fails (a failure while rising is repeated once before it counts), then the geometric
//! middle between the best passing and the lowest failing rate is tried until the two are
//! within the resolution. The answer is the deliveries per
//! second of the best passing step, with the server's (and the database's) CPU there.
//!
//! Steps do not overlap: sending stops at the end of each, and the next starts once its
//! deliveries have arrived (or the drain time is up: the rest count as missing), so a
//! step's figures are its own.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::{gather, Crowd, Layout, Shared, StepLatency, Window};
use crate::{
    pgstat, procstat,
    report::{progress, Report},
    CapacityArgs, Common, Transport,
};

/// Which rate to try next, from the steps so far.
#[derive(Debug)]
struct Search {
    start: f64,
    factor: f64,
    resolution: f64,
    last: Option<f64>,
    best_pass: Option<f64>,
    lowest_fail: Option<f64>,
}

impl Search {
    fn new(start: f64, factor: f64, resolution: f64) -> Self {
        Search {
            start,
            factor,
            resolution,
            last: None,
            best_pass: None,
            lowest_fail: None,
        }
    }

    /// No step has failed yet.
    fn rising(&self) -> bool {
        self.lowest_fail.is_none()
    }

    fn record(&mut self, rate: f64, passed: bool) {
        self.last = Some(rate);
        if passed {
            self.best_pass = Some(self.best_pass.map_or(rate, |b| b.max(rate)));
        } else {
            self.lowest_fail = Some(self.lowest_fail.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The next rate, or `None` when the capacity is pinned down.
    fn next(&self) -> Option<f64> {
        match (self.best_pass, self.lowest_fail) {
            (_, None) => Some(self.last.map_or(self.start, |l| l * self.factor)),
            // Even the first step failed: halve until one passes (not forever).
            (None, Some(fail)) => (fail / 2.0 >= self.start / 64.0).then_some(fail / 2.0),
            (Some(pass), Some(fail)) => {
                (fail / pass > 1.0 + self.resolution).then(|| (pass * fail).sqrt())
            }
        }
    }
}

/// One step's outcome; `figures` is what goes into the report.
struct Step {
    rate: f64,
    passed: bool,
    /// False for a failed step that was run again (it does not decide the search).
    counted: bool,
    /// Connections were lost: later steps would measure fewer clients.
    fatal: bool,
    deliveries_per_sec: f64,
    figures: Value,
}

pub async fn run(common: &Common, a: &CapacityArgs) -> Result<Report> {
    if a.docs == 0 || a.clients < 2 || a.start_rate <= 0.0 || a.factor <= 1.0 {
        bail!("--docs > 0, --clients >= 2, --start-rate > 0 and --factor > 1 are needed");
    }
    common.check_single("capacity")?;
    let shared = Arc::new(Shared::new(Some(StepLatency::new())));
    progress(format!(
        "capacity: {} docs x {} clients, from {} updates/s each, x{} per step of {} s, \
         until p99 > {} ms or a delivery is missing",
        a.docs, a.clients, a.start_rate, a.factor, a.step_secs, a.p99_limit_ms
    ));
    let layout = Layout {
        transport: Transport::Websocket,
        docs: a.docs,
        clients: a.clients,
        preload: 0,
    };
    let crowd = gather(common, &layout, &shared).await;
    let mut steps: Vec<Step> = Vec::new();
    let mut search = Search::new(a.start_rate, a.factor, a.resolution);
    // A run where not every client connected would measure a smaller crowd: no ramp.
    let mut repeated = false;
    while crowd.ok == crowd.total && steps.len() < a.max_steps {
        let Some(rate) = search.next() else { break };
        let mut step = run_step(common, a, &shared, &crowd, rate).await;
        let fatal = step.fatal;
        // While the rate still rises, a failed step is run once more before it counts:
        // one stall (a WAL checkpoint, a busy machine, the cold start) must not end the
        // rise far below capacity. The tail-latency benchmark is where stalls are counted.
        repeated = !step.passed && !fatal && search.rising() && !repeated;
        if repeated {
            progress("repeating the step once before it counts");
            step.counted = false;
            step.figures["repeated"] = Value::Bool(true);
        } else {
            search.record(rate, step.passed);
        }
        steps.push(step);
        if fatal {
            break;
        }
    }
    let _ = crowd.stop.send(true);
    for t in crowd.tasks {
        let _ = t.await;
    }

    let best = steps
        .iter()
        .filter(|s| s.passed)
        .max_by(|x, y| x.deliveries_per_sec.total_cmp(&y.deliveries_per_sec));
    // The lowest rate that failed, and why: what stopped the server just above capacity.
    let lowest_failure = steps
        .iter()
        .filter(|s| !s.passed && s.counted)
        .min_by(|x, y| x.rate.total_cmp(&y.rate))
        .map(|s| s.figures.clone());
    let at_best = |k: &str| {
        best.and_then(|b| b.figures.get(k).cloned())
            .unwrap_or(Value::Null)
    };
    let connect_failures = shared.failed_connects.load(Relaxed);
    let closes = shared.unexpected_closes.load(Relaxed);
    let mut r = Report::new("capacity");
    r.add("docs", a.docs, "");
    r.add("clients_per_doc", a.clients, "");
    r.add("connections", crowd.total, "");
    r.num("step_secs", Some(a.step_secs), "s");
    r.num("p99_limit_ms", Some(a.p99_limit_ms), "ms");
    r.add("connect_failures", connect_failures, "");
    r.num("setup_secs", Some(crowd.setup_secs), "s");
    r.num(
        "capacity_deliveries_per_sec",
        best.map(|b| b.deliveries_per_sec),
        "msg/s",
    );
    for (key, field) in [
        ("capacity_rate_per_client", "rate_per_client"),
        ("capacity_p99_ms", "latency_p99_ms"),
        ("capacity_server_cpu_share", "server_cpu_share"),
        (
            "capacity_server_cpu_us_per_delivery",
            "server_cpu_us_per_delivery",
        ),
        ("capacity_db_cpu_us_per_delivery", "db_cpu_us_per_delivery"),
        (
            "capacity_db_background_cpu_us_per_delivery",
            "db_background_cpu_us_per_delivery",
        ),
        (
            "capacity_server_and_db_cpu_us_per_delivery",
            "server_and_db_cpu_us_per_delivery",
        ),
        ("capacity_loadgen_cpu_share", "loadgen_cpu_share"),
    ] {
        r.add(key, at_best(field), "");
    }
    r.add("lowest_failure", lowest_failure.unwrap_or(Value::Null), "");
    r.add("steps_run", steps.len(), "");
    r.add(
        "late_deliveries",
        shared.steps.as_ref().map_or(0, |s| s.late()),
        "",
    );
    r.add("errors", connect_failures + closes, "");
    r.add(
        "steps",
        Value::Array(steps.into_iter().map(|s| s.figures).collect()),
        "",
    );
    Ok(r)
}

async fn run_step(
    common: &Common,
    a: &CapacityArgs,
    shared: &Shared,
    crowd: &Crowd,
    rate: f64,
) -> Step {
    let Some(lat) = shared.steps.as_ref() else {
        unreachable!("capacity runs with step latencies");
    };
    let pids = &common.server_pids;
    let db_name = common.db_name.as_deref();
    let expected0 = shared.expected.load(Relaxed);
    let sent0 = shared.sent.load(Relaxed);
    let closes0 = shared.unexpected_closes.load(Relaxed);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(a.step_secs);
    let start_ns = start
        .into_std()
        .saturating_duration_since(shared.epoch)
        .as_nanos() as u64;
    lat.begin(start_ns);
    let cpu0 = procstat::cpu_sum(pids);
    let me0 = procstat::cpu(std::process::id());
    let db0 = db_name.map(pgstat::sample);
    let t0 = Instant::now();
    let _ = crowd.go.send(Some(Window { start, end, rate }));
    tokio::time::sleep_until(end).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.drain);
    while tokio::time::Instant::now() < deadline
        && lat.count() < shared.expected.load(Relaxed) - expected0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall_ns = t0.elapsed().as_nanos().max(1) as f64;
    let cpu_ns = cpu0
        .zip(procstat::cpu_sum(pids))
        .map(|(x, y)| x.delta_ns(&y));
    let me_ns = me0
        .zip(procstat::cpu(std::process::id()))
        .map(|(x, y)| x.delta_ns(&y));
    let db = db0.map(|d| d.delta(&pgstat::sample(db_name.unwrap_or(""))));

    let f = lat.figures();
    let expected = shared.expected.load(Relaxed) - expected0;
    let sent = shared.sent.load(Relaxed) - sent0;
    let closes = shared.unexpected_closes.load(Relaxed) - closes0;
    let missing = expected.saturating_sub(f.deliveries);
    let deliveries_per_sec = f.deliveries as f64 / a.step_secs;
    let why = if closes > 0 {
        format!("{closes} connections lost")
    } else if missing > 0 {
        format!("{missing} deliveries missing after {} s", a.drain)
    } else {
        match f.p99_ms {
            Some(p) if p <= a.p99_limit_ms => String::new(),
            Some(p) => format!("p99 {p:.1} ms > {} ms", a.p99_limit_ms),
            None => "nothing delivered".into(),
        }
    };
    let passed = why.is_empty();
    let per = |ns: Option<u64>| {
        ns.filter(|_| f.deliveries > 0)
            .map(|n| round3(n as f64 / 1e3 / f.deliveries as f64))
    };
    let all_ns = cpu_ns
        .zip(db)
        .map(|(c, d)| c + d.backend_ns + d.background_ns);
    let figures = json!({
        "rate_per_client": round3(rate),
        "offered_deliveries_per_sec":
            round3((a.docs * a.clients * (a.clients - 1)) as f64 * rate),
        "updates_sent": sent,
        "deliveries": f.deliveries,
        "missing_deliveries": missing,
        "unexpected_closes": closes,
        "deliveries_per_sec": round3(deliveries_per_sec),
        "latency_p50_ms": f.p50_ms.map(round3),
        "latency_p99_ms": f.p99_ms.map(round3),
        "latency_max_ms": f.max_ms.map(round3),
        "server_cpu_share": cpu_ns.map(|n| round3(n as f64 / wall_ns)),
        "server_cpu_us_per_delivery": per(cpu_ns),
        "db_cpu_us_per_delivery": per(db.map(|d| d.backend_ns)),
        "db_background_cpu_us_per_delivery": per(db.map(|d| d.background_ns)),
        "server_and_db_cpu_us_per_delivery": per(all_ns),
        "loadgen_cpu_share": me_ns.map(|n| round3(n as f64 / wall_ns)),
        "passed": passed,
        "why": if passed { Value::Null } else { Value::from(why.clone()) },
    });
    progress(format!(
        "step {rate:.2}/s per client: {deliveries_per_sec:.0} deliveries/s, p99 {} ms, \
         server CPU {} of a core, load generator {}: {}",
        f.p99_ms.map_or("-".into(), |p| format!("{p:.2}")),
        figures["server_cpu_share"],
        figures["loadgen_cpu_share"],
        if passed { "pass" } else { &why }
    ));
    if missing > 0 {
        // The server is still working off the step: let it finish before the next.
        tokio::time::sleep(Duration::from_secs_f64(a.drain)).await;
    }
    Step {
        rate,
        passed,
        counted: true,
        fatal: closes > 0,
        deliveries_per_sec,
        figures,
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::Search;

    #[test]
    fn rates_rise_by_the_factor_then_close_in_on_the_first_failure() {
        let mut s = Search::new(4.0, 1.25, 0.05);
        let mut tried = vec![];
        // A server that sustains up to 7 updates/s per client.
        while let Some(rate) = s.next() {
            tried.push((rate * 1000.0).round() / 1000.0);
            s.record(rate, rate <= 7.0);
            assert!(tried.len() < 20, "no end: {tried:?}");
        }
        assert_eq!(&tried[..4], &[4.0, 5.0, 6.25, 7.813]);
        let pass = s.best_pass.unwrap();
        let fail = s.lowest_fail.unwrap();
        assert!(
            pass <= 7.0 && fail > 7.0 && fail / pass <= 1.05,
            "{tried:?}"
        );
        assert_eq!(tried.len(), 7, "{tried:?}");
    }

    #[test]
    fn a_failing_first_step_halves_the_rate_until_one_passes() {
        let mut s = Search::new(8.0, 1.25, 0.05);
        s.record(8.0, false);
        assert_eq!(s.next(), Some(4.0));
        s.record(4.0, false);
        assert_eq!(s.next(), Some(2.0));
        s.record(2.0, true);
        assert_eq!(s.next(), Some(2.0 * 2f64.sqrt()));
        // A server that fails at every rate ends the search.
        let mut never = Search::new(8.0, 1.25, 0.05);
        let mut n = 0;
        while let Some(rate) = never.next() {
            never.record(rate, false);
            n += 1;
        }
        assert_eq!(n, 7);
    }
}

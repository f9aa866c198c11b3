//! Several `tandem serve` processes as one cluster: one fresh PostgreSQL database, one
//! private `nats-server`, and per instance its own id, port and data directory. Processes
//! (not in-process servers) so that an instance can die by `kill -9` like a machine would.

use std::time::Duration;

use super::{
    api::Api,
    metric_in,
    nats::{NatsServer, NATS_PASSWORD, NATS_USER},
    new_doc,
    pg::TestDatabase,
    BinServer, Client,
};

/// How long a cluster-wide wait may take: three server processes, PostgreSQL and NATS
/// share a small, busy machine, and repairs run on the resync period.
pub const CLUSTER_WAIT: Duration = Duration::from_secs(60);

/// Resync period every test instance runs with (`--cluster-resync-ms`), short so that a
/// repair from the database costs a test half a second, not the default two.
pub const RESYNC_MS: &str = "500";

/// `--cluster-key` of every test instance.
pub const CLUSTER_KEY: &str = "test-cluster-key-0123456789abcdef0123456789";

pub struct Instance {
    pub server: BinServer,
    pub id: String,
    _dir: tempfile::TempDir,
}

/// N instances of one cluster. Dropping it kills every instance and NATS, then drops the
/// database.
pub struct Cluster {
    // Field order is drop order: the instances go before the database they use.
    instances: Vec<Option<Instance>>,
    pub nats: NatsServer,
    pub db: TestDatabase,
    /// `--nats-subject-prefix` of this cluster (unique, though the NATS server is private).
    pub prefix: String,
    tag: String,
    extra: Vec<String>,
}

impl Cluster {
    /// Starts `n` instances on a fresh database `tag`, each with `extra` flags on top of the
    /// cluster settings.
    pub async fn start(tag: &str, n: usize, extra: &[&str]) -> Cluster {
        let db = TestDatabase::create(tag).await;
        let nats = NatsServer::start();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let mut cluster = Cluster {
            instances: Vec::new(),
            nats,
            db,
            prefix: format!("t{}x{nanos}", std::process::id()),
            tag: tag.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for k in 0..n {
            cluster.instances.push(None);
            cluster.spawn(k);
        }
        cluster
    }

    /// Starts instance `k` (again, after a kill: same id, new port).
    pub fn spawn(&mut self, k: usize) {
        let url = self.db.url.clone();
        self.spawn_on_database(k, &url);
    }

    /// Starts instance `k` with its own way to the cluster's database (`url`: through a
    /// proxy the test can cut, say).
    pub fn spawn_on_database(&mut self, k: usize, database_url: &str) {
        assert!(self.instances[k].is_none(), "instance {k} is running");
        let dir = tempfile::tempdir().unwrap();
        let id = format!("{}-{k}", self.tag);
        let data = dir.path().display().to_string();
        let nats = self.nats.url();
        let mut args: Vec<&str> = vec![
            "--data-dir",
            &data,
            "--database-url",
            database_url,
            "--nats-url",
            &nats,
            "--instance-id",
            &id,
            "--nats-subject-prefix",
            &self.prefix,
            "--cluster-key",
            CLUSTER_KEY,
            "--nats-user",
            NATS_USER,
            "--nats-password",
            NATS_PASSWORD,
        ];
        // A test may set its own resync period (a very long one, to show that something
        // other than the periodic check repaired a copy).
        if !self.extra.iter().any(|a| a == "--cluster-resync-ms") {
            args.extend(["--cluster-resync-ms", RESYNC_MS]);
        }
        args.extend(self.extra.iter().map(String::as_str));
        let server = BinServer::spawn(&args);
        self.instances[k] = Some(Instance {
            server,
            id,
            _dir: dir,
        });
    }

    /// How many instances the cluster was started with (dead ones included).
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Instance `k`; panics when it was killed.
    pub fn instance(&self, k: usize) -> &Instance {
        self.instances[k]
            .as_ref()
            .unwrap_or_else(|| panic!("instance {k} is not running"))
    }

    /// The instances still running.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|k| self.instances[*k].is_some())
            .collect()
    }

    pub fn ws(&self, k: usize, doc: &str) -> String {
        self.instance(k).server.ws(doc)
    }

    pub fn http(&self, k: usize, path: &str) -> String {
        self.instance(k).server.http(path)
    }

    pub fn api(&self, k: usize) -> Api {
        Api::at(self.http(k, ""))
    }

    /// `kill -9` of instance `k`: no shutdown, no goodbye on the bus; waits until the
    /// process is gone.
    pub fn kill(&mut self, k: usize) {
        let mut inst = self.instances[k]
            .take()
            .unwrap_or_else(|| panic!("instance {k} is not running"));
        inst.server.child.kill().expect("SIGKILL");
        inst.server.child.wait().unwrap();
    }

    /// The last lines each instance and the NATS server logged, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for k in self.alive() {
            let lines = self.instance(k).server.stderr();
            let tail = &lines[lines.len().saturating_sub(30)..];
            out.push_str(&format!("--- instance {k} ---\n{}\n", tail.join("\n")));
        }
        let nats = self.nats.log();
        let tail = &nats[nats.len().saturating_sub(30)..];
        out.push_str(&format!("--- nats-server ---\n{}\n", tail.join("\n")));
        out
    }

    /// The whole `/metrics` text of instance `k`.
    pub async fn metrics(&self, k: usize) -> String {
        let res = reqwest::get(self.http(k, "/metrics"))
            .await
            .unwrap_or_else(|e| panic!("metrics of instance {k}: {e}"));
        res.text().await.unwrap()
    }

    /// One series of instance `k`. Unlike `metric_in`, a series that is not reported at
    /// all fails the test: every cluster metric is registered at zero, and a test that
    /// asserts "still 0" must not pass because the metric does not exist.
    pub async fn metric(&self, k: usize, series: &str) -> f64 {
        let text = self.metrics(k).await;
        let present = text
            .lines()
            .any(|l| l.strip_prefix(series).is_some_and(|r| r.starts_with(' ')));
        assert!(present, "instance {k} does not report {series}");
        metric_in(&text, series)
    }

    /// The sum of one series over the running instances.
    pub async fn metric_sum(&self, series: &str) -> f64 {
        let mut sum = 0.0;
        for k in self.alive() {
            sum += self.metric(k, series).await;
        }
        sum
    }

    /// Waits until `series` on instance `k` satisfies `pred`; returns its value. On
    /// timeout the failure shows the value, `/readyz` and the instances' logs.
    pub async fn wait_metric(&self, k: usize, series: &str, pred: impl Fn(f64) -> bool) -> f64 {
        let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
        loop {
            let v = self.metric(k, series).await;
            if pred(v) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                let (status, ready) = self.readyz(k).await;
                panic!(
                    "timed out after {CLUSTER_WAIT:?} waiting for {series} on instance {k} \
                     (now {v}; readyz {status} {ready:?})\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /api/documents/{doc}/text` on instance `k`: the text that instance holds.
    pub async fn text(&self, k: usize, doc: &str) -> String {
        let res = self.api(k).text(doc).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 200, "text of {doc} on instance {k}: {body}");
        body
    }

    /// `GET /readyz` of instance `k`: status and text (`ready; bus connected`).
    pub async fn readyz(&self, k: usize) -> (u16, String) {
        let res = self.api(k).readyz().await;
        let status = res.status().as_u16();
        (status, res.text().await.unwrap())
    }

    /// Waits until instance `k`'s `/readyz` reports the bus `state` (`connected`,
    /// `disconnected`), staying ready (200) meanwhile.
    pub async fn wait_bus(&self, k: usize, state: &str) {
        let want = format!("bus {state}");
        let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
        loop {
            let (status, body) = self.readyz(k).await;
            assert_eq!(status, 200, "instance {k} not ready: {body}");
            if body.contains(&want) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "instance {k}: readyz says {body:?} after {CLUSTER_WAIT:?}, not {want:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A fresh load of `doc` from PostgreSQL, replayed as the server would (`None` when
    /// the document is not stored). Replay errors fail the test.
    pub async fn stored_text(&self, doc: &str) -> Option<String> {
        let store = tandem_persistence::open(&self.db.url)
            .await
            .expect("open the cluster's database");
        let stored = store.load(doc).await.expect("load from PostgreSQL")?;
        let replica = new_doc();
        let errors = tandem::text::replay(&replica, &stored);
        assert!(
            errors.is_empty(),
            "stored {doc} does not replay: {errors:?}"
        );
        Some(tandem::text::render_doc(&replica))
    }
}

/// Clients on `doc`, `n` of them, spread over the running instances in turn.
pub async fn spread(cluster: &Cluster, doc: &str, n: usize) -> Vec<Client> {
    let alive = cluster.alive();
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        clients.push(Client::connect(&cluster.ws(alive[i % alive.len()], doc)).await);
    }
    clients
}

/// Every running instance's `/text` and a fresh load from PostgreSQL hold `text`. Called
/// once the clients converged: each instance holds what its clients hold (it applied their
/// edits and relayed the others'), and everything relayed was committed first.
pub async fn assert_everywhere(cluster: &Cluster, doc: &str, text: &str) {
    for k in cluster.alive() {
        assert_eq!(cluster.text(k, doc).await, text, "/text on instance {k}");
    }
    let stored = cluster.stored_text(doc).await;
    assert_eq!(
        stored.as_deref(),
        Some(text),
        "a fresh load from PostgreSQL"
    );
}

//! The server in-process: settings as the CLI parses them, a fresh data directory, a free
//! port; and what a test asks of it directly (metrics, whether a document is loaded).

use clap::Parser;
use tandem::{config::Cli, ServeConfig, Server};

use super::wait_for;

pub struct TestServer {
    pub server: Option<Server>,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn ws(&self, doc: &str) -> String {
        format!("ws://{}/ws/{}", self.addr, doc)
    }
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// The server's SQLite database file (the default store).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.dir.path().join("tandem.db")
    }

    /// Whether the document is loaded in memory now.
    pub fn is_loaded(&self, doc: &str) -> bool {
        self.server.as_ref().expect("server running").is_loaded(doc)
    }

    /// Waits until the document has been unloaded from memory.
    pub async fn wait_unloaded(&self, doc: &str) {
        wait_for(&format!("{doc} to unload"), || async {
            (!self.is_loaded(doc)).then_some(())
        })
        .await
    }

    /// One series from `/metrics`, e.g. `tandem_updates_received_total` or
    /// `tandem_connections{transport="websocket"}`; 0 when not reported yet.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(self.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_in(&text, series)
    }

    /// Waits until `series` satisfies `pred`; returns its value.
    pub async fn wait_metric(&self, series: &str, pred: impl Fn(f64) -> bool) -> f64 {
        wait_for(&format!("metric {series}"), || async {
            let v = self.metric(series).await;
            pred(v).then_some(v)
        })
        .await
    }
}

/// The value of one series in a Prometheus text exposition; 0 when absent.
pub fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("numeric metric"))
        .unwrap_or(0.0)
}

/// Settings as the CLI would parse them, with a fresh data directory; `extra` adds flags.
pub fn config(dir: &std::path::Path, extra: &[&str]) -> ServeConfig {
    let mut args = vec![
        "tandem".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--web-dir".into(),
        dir.join("no-web").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Cli::parse_from(args).serve
}

pub async fn start(extra: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, extra).await
}

pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestServer {
    let server = tandem::start(config(dir.path(), extra)).await.unwrap();
    TestServer {
        addr: server.addr,
        server: Some(server),
        dir,
    }
}

pub async fn get_text(server: &TestServer, doc: &str) -> String {
    let res = super::Api::new(server).text(doc).await;
    assert_eq!(res.status(), 200, "text of {doc}");
    res.text().await.unwrap()
}

//! Database trouble: with PostgreSQL behind a proxy we can cut, the server must keep
//! serving connected clients, report not-ready, write everything once the database is
//! back, and refuse new edits once its memory budget for unwritten updates is spent.

mod common;
mod pg_support;

use std::{sync::Arc, time::Duration};

use common::*;
use tokio::{net::TcpListener, sync::Mutex, task::JoinHandle};
use yrs::{ReadTxn, Transact};

/// A TCP proxy to PostgreSQL that can be cut and restored on the same port.
struct Proxy {
    port: u16,
    target: (String, u16),
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(target: (String, u16)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            target,
            tasks: Default::default(),
            acceptor: None,
        };
        proxy.accept(listener);
        proxy
    }

    fn accept(&mut self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect((target.0.as_str(), target.1)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().await.push(task);
            }
        }));
    }

    /// Stops accepting and severs every open connection.
    async fn cut(&mut self) {
        if let Some(a) = self.acceptor.take() {
            a.abort();
            let _ = a.await;
        }
        for t in self.tasks.lock().await.drain(..) {
            t.abort();
        }
    }

    async fn restore(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
            .unwrap();
        self.accept(socket.listen(128).unwrap());
    }
}

async fn ready(server: &TestServer) -> u16 {
    reqwest::get(server.http("/readyz"))
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait_ready(server: &TestServer, want: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ready(server).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_rides_out_a_database_outage() {
    let direct = pg_support::fresh_database("outage").await;
    let admin = pg_support::admin_url();
    let mut proxy = Proxy::start(pg_support::host_port(&admin)).await;
    let db_name = direct
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let (user_part, _) = admin
        .split_once('@')
        .map(|(u, r)| (u.to_string(), r))
        .unwrap_or(("postgres://postgres".into(), ""));
    let via_proxy = format!("{user_part}@127.0.0.1:{}/{db_name}", proxy.port);
    let server = start(&[
        "--database-url",
        &via_proxy,
        "--max-unwritten-bytes",
        "20000",
    ])
    .await;

    let mut a = Client::connect(&server.ws("out")).await;
    let mut b = Client::connect(&server.ws("out")).await;
    a.append("before ").await;
    b.pump_until(|c| c.text() == "before ", WAIT).await;
    assert_eq!(ready(&server).await, 200);

    proxy.cut().await;
    wait_ready(&server, 503).await;
    let body = reqwest::get(server.http("/readyz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("database"), "{body}");

    // Collaboration goes on from memory.
    a.append("during ").await;
    b.pump_until(|c| c.text() == "before during ", WAIT).await;

    // Past the budget for unwritten bytes, edits are refused with a clear close.
    let mut big = Client::connect(&server.ws("out")).await;
    big.append(&"x".repeat(30_000)).await;
    let (code, reason) = big.closed_with(WAIT).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("storage unavailable"), "{reason}");
    b.drain(Duration::from_millis(200)).await;
    assert_eq!(
        b.text(),
        "before during ",
        "a refused edit must not be applied"
    );

    // A delete the database cannot carry out is refused, and the clients are not told the
    // document is gone: they are closed as for any storage trouble and come back with
    // their copy (a y-websocket client resyncs on reconnect; here its state is resent).
    let del = reqwest::Client::new()
        .delete(server.http("/api/documents/out"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 503, "{:?}", del.text().await);
    let (code, reason) = a.closed_with(WAIT).await;
    assert_eq!(code, 1013, "{reason}");
    let (code, _) = b.closed_with(WAIT).await;
    assert_eq!(code, 1013);

    proxy.restore().await;
    wait_ready(&server, 200).await;
    // The document was not deleted: what reached the database before the outage is there.
    let mut b = Client::connect(&server.ws("out")).await;
    assert_eq!(b.text(), "before ");
    let state = a
        .doc
        .transact()
        .encode_state_as_update_v1(&Default::default());
    let mut a = Client::connect(&server.ws("out")).await;
    a.send(yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(
        state,
    )))
    .await;
    a.pump_until(|c| c.text() == "before during ", WAIT).await;
    b.pump_until(|c| c.text() == "before during ", WAIT).await;
    a.append("after").await;
    b.pump_until(|c| c.text() == "before during after", WAIT)
        .await;

    // Everything, including what was typed during the outage, reaches the database.
    let store = tandem_persistence::open(&direct).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stored = store.load("out").await.unwrap().unwrap_or_default();
        let text = stored_text(&stored);
        if text == "before during after" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "database has {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Nothing is left counted as unwritten: not the refused edit, not what the failed
    // delete dropped (its clients sent it again).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(server.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let unwritten = metrics
            .lines()
            .find(|l| l.starts_with("tandem_unwritten_bytes "))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|v| v.parse::<f64>().unwrap());
        if unwritten == Some(0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "unwritten bytes stay at {unwritten:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

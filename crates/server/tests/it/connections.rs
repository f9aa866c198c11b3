//! Connections before any request: caps per client address and in total, the header-read
//! timeout that closes idle and slowly-typed sockets, and the accept loop's back-off when
//! the process runs out of file descriptors.

use crate::kit::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// GET /healthz on a fresh connection.
async fn healthz(server: &TestServer) -> reqwest::Response {
    reqwest::get(server.http("/healthz")).await.unwrap()
}

/// Waits until the server has closed `socket` (end of stream or reset).
async fn closed_by_server(socket: &mut TcpStream) {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(WAIT, socket.read(&mut buf)).await {
            Err(_) => panic!("the server kept the socket open"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {} // an answer (408 or the like) before the close
        }
    }
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let server = start(&["--max-connections-per-ip", "2"]).await;
    // An idle socket and a WebSocket: an upgraded connection still counts.
    let idle = TcpStream::connect(server.addr).await.unwrap();
    let mut ws = Client::connect(&server.ws("capped")).await;
    let e = expect_error(healthz(&server).await, 429).await;
    assert!(e.contains("too many connections from this address"), "{e}");
    // It says which setting to raise (a team behind one NAT address may need to).
    assert!(
        e.contains("raise --max-connections-per-ip / TANDEM_MAX_CONNECTIONS_PER_IP"),
        "{e}"
    );
    // Its place is free again once the idle socket is gone.
    drop(idle);
    wait_for("the idle socket's place to free up", || async {
        (healthz(&server).await.status() == 200).then_some(())
    })
    .await;
    // Read with retries: the connection that read the last answer may not have been
    // seen closing yet.
    server
        .wait_metric(
            "tandem_limit_refusals_total{limit=\"connections_per_ip\"}",
            |v| v >= 1.0,
        )
        .await;
    // The WebSocket still holds the other place, and still works.
    let _idle = TcpStream::connect(server.addr).await.unwrap();
    expect_error(healthz(&server).await, 429).await;
    ws.append("still here").await;
    ws.pump_until(|c| c.received_updates >= 1, WAIT).await;
}

#[tokio::test]
async fn connections_on_the_server_are_capped() {
    let server = start(&["--max-connections", "2"]).await;
    let _a = TcpStream::connect(server.addr).await.unwrap();
    let b = TcpStream::connect(server.addr).await.unwrap();
    let e = expect_error(healthz(&server).await, 503).await;
    assert!(e.contains("too many connections on this server"), "{e}");
    drop(b);
    wait_for("a place to free up", || async {
        (healthz(&server).await.status() == 200).then_some(())
    })
    .await;
    server
        .wait_metric(
            "tandem_limit_refusals_total{limit=\"connections_total\"}",
            |v| v >= 1.0,
        )
        .await;
}

#[tokio::test]
async fn sockets_without_a_request_are_closed_after_the_header_timeout() {
    let server = start(&["--header-read-timeout-secs", "1"]).await;
    // A WebSocket that says nothing is past its request: it stays.
    let mut ws = Client::connect(&server.ws("quiet")).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    // Headers begun, never finished (slowloris).
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .await
        .unwrap();
    closed_by_server(&mut idle).await;
    closed_by_server(&mut slow).await;
    server
        .wait_metric(
            "tandem_limit_refusals_total{limit=\"header_read_timeout\"}",
            |v| v == 2.0,
        )
        .await;
    ws.append("still here").await;
    ws.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert!(ws.closed.is_none());
}

/// With few file descriptors, idle sockets run the server out of them; accept then fails
/// until the header timeout closes some. The server backs off, counts the failures, and
/// serves again once the idle sockets are gone.
#[tokio::test]
async fn the_server_recovers_from_running_out_of_file_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let server = BinServer::spawn_with_open_files(
        64,
        &["--data-dir", &data, "--header-read-timeout-secs", "1"],
    );
    let addr = server.addr.clone();
    // More sockets than the server has descriptors; the kernel queues them for accept.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    for mut socket in idle {
        closed_by_server(&mut socket).await;
    }
    let metrics = wait_for("the server to answer again", || async {
        let res = reqwest::get(server.http("/metrics")).await.ok()?;
        (res.status() == 200).then_some(res.text().await.ok()?)
    })
    .await;
    assert!(
        metric_in(&metrics, "tandem_accept_errors_total") >= 1.0,
        "no failed accept was counted"
    );
    assert!(
        server
            .stderr()
            .iter()
            .any(|l| l.contains("accepting connections failed; backing off")),
        "no warning logged"
    );
}

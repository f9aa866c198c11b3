//! The change feed's stream as a client meets it: `retry:` and headers, `?include=text`,
//! the end of open streams at shutdown, and `tandem feed` printing one line per change.

use std::time::Duration;

use serde_json::Value;

use crate::kit::{feed::*, *};

/// `tandem feed DOC` prints one line per change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_one_line_per_change() {
    use tokio::io::AsyncBufReadExt;
    let server = start(&[]).await;
    let mut writer = Client::connect(&server.ws("cli-feed")).await;
    writer.append("hi").await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["feed", "cli-feed", "--after", "0", "--url"])
        .arg(server.http(""))
        .env_remove("TANDEM_TOKEN")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = next_line(&mut lines).await;
    assert!(
        first.contains("cli-feed") && first.contains("+2 -0") && first.contains("length 2"),
        "{first}"
    );
    writer.append("!").await;
    let second = next_line(&mut lines).await;
    assert!(
        second.contains("+1 -0") && second.contains("length 3"),
        "{second}"
    );
    child.kill().await.unwrap();
}

async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> String {
    tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("a line")
}

/// The stream sets EventSource's reconnect delay first and asks proxies not to buffer it;
/// `?include=text` adds the whole text to each change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sets_retry_and_include_text_adds_the_text() {
    use futures::StreamExt;
    let server = start(&[]).await;
    let mut writer = Client::connect(&server.ws("whole")).await;
    writer.append("ab").await;
    let res = reqwest::Client::new()
        .get(server.http("/api/documents/whole/changes?after=0&include=text"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = res.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: change") {
        let chunk = tokio::time::timeout(WAIT, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.starts_with("retry: 1000"), "{seen}");
    let data = seen.lines().find(|l| l.starts_with("data:")).unwrap();
    let data: Value = serde_json::from_str(&data[5..]).unwrap();
    assert_eq!(data["text"], "ab");
    assert_eq!(data["doc"], "whole");
    let bad = reqwest::get(server.http("/api/documents/whole/changes?include=html"))
        .await
        .unwrap();
    expect_error(bad, 400).await;
}

/// A server with feed streams open still shuts down: the streams end with a close event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_when_the_server_shuts_down() {
    let mut server = start(&[]).await;
    let url = server.http("/api/documents/any/changes");
    let mut feed = Stream::open(&url, Some(0)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown does not wait for the feed's streams");
    let (event, _, _) = feed.next(WAIT).await.expect("a close event");
    assert_eq!(event, "close");
}

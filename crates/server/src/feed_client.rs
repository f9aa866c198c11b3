//! `tandem feed [DOC]`: follows a server's change feed over plain HTTP and prints one
//! line per change. It reconnects with the last position it printed when the stream ends
//! (a restart, a slow-reader close), so nothing is missed or printed twice.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// The document to follow; without it, every document the credential may see.
    pub doc: Option<String>,
    /// The server's base URL (plain http).
    #[arg(long, env = "TANDEM_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An access token (or the admin key, for every document).
    #[arg(long, env = "TANDEM_TOKEN")]
    pub token: Option<String>,
    /// Start after this position (0: from the beginning); default: from now.
    #[arg(long)]
    pub after: Option<i64>,
    /// Print each event's JSON instead of a summary line.
    #[arg(long)]
    pub json: bool,
}

/// Follows until interrupted, or until the server refuses the request.
pub async fn follow(args: FeedArgs) -> anyhow::Result<()> {
    let rest = args
        .url
        .strip_prefix("http://")
        .context("--url must start with http:// (use a TLS-terminating proxy's plain side)")?;
    let (authority, base) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let host = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = match &args.doc {
        Some(doc) => format!("{base}/api/documents/{doc}/changes"),
        None => format!("{base}/api/changes"),
    };
    let mut last = args.after;
    loop {
        match stream_once(&host, authority, &path, &args, &mut last).await {
            Ok(()) => {}
            Err(err) if err.is::<Refused>() => return Err(err),
            Err(err) => eprintln!("feed: {err:#}; reconnecting"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the server refused the feed: {0}")]
struct Refused(String);

/// One HTTP/1.0 request (the body then ends with the connection: no chunked encoding).
async fn stream_once(
    host: &str,
    authority: &str,
    path: &str,
    args: &FeedArgs,
    last: &mut Option<i64>,
) -> anyhow::Result<()> {
    let conn = TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    let (read, mut write) = conn.into_split();
    let mut request =
        format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/event-stream\r\n");
    if let Some(token) = &args.token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(id) = last {
        request.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    request.push_str("\r\n");
    write.write_all(request.as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    let status = lines.next_line().await?.context("no answer")?;
    let mut headers_done = false;
    let mut body = String::new();
    while let Some(line) = lines.next_line().await? {
        if !headers_done {
            headers_done = line.is_empty();
            continue;
        }
        if !status.contains(" 200 ") {
            body.push_str(&line);
            continue;
        }
        event_line(&line, args.json, last)?;
    }
    if !status.contains(" 200 ") {
        bail!(Refused(format!("{status} {body}")));
    }
    Ok(())
}

/// Handles one line of the event stream (`id:` always comes before `data:` here).
fn event_line(line: &str, json: bool, last: &mut Option<i64>) -> anyhow::Result<()> {
    if let Some(id) = line.strip_prefix("id:") {
        *last = id.trim().parse().ok().or(*last);
    } else if let Some(data) = line.strip_prefix("data:") {
        let data = data.trim_start();
        if json {
            println!("{data}");
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).context("event data is not JSON")?;
        if v.get("delta").is_none() {
            // `close` (expiry) or a snapshot.
            if let Some(text) = v.get("text") {
                println!(
                    "{}\t{}\tsnapshot\t{} chars",
                    v["seq"],
                    v["doc"].as_str().unwrap_or(""),
                    text.as_str().map_or(0, |t| t.encode_utf16().count())
                );
            } else {
                println!("{data}");
            }
            return Ok(());
        }
        let (mut inserted, mut deleted) = (0usize, 0u64);
        for op in v["delta"].as_array().into_iter().flatten() {
            if let Some(s) = op["insert"].as_str() {
                inserted += s.encode_utf16().count();
            }
            deleted += op["delete"].as_u64().unwrap_or(0);
        }
        println!(
            "{}\t{}\t{}\t+{inserted} -{deleted}\tlength {}",
            v["seq"],
            v["doc"].as_str().unwrap_or(""),
            v["at"].as_str().unwrap_or(""),
            v["length"]
        );
    }
    Ok(())
}

//! The `tandem` binary: the server and a few offline commands over its database.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use clap::Parser;
use tandem::{
    auth::{Auth, Claims},
    config::{Cli, Command, DbArgs, ExportFormat, LogFormat},
    render::{Content, Fields},
    text, LogLimit,
};
use yrs::{updates::decoder::Decode, ReadTxn, StateVector, Transact, Update};

fn main() -> anyhow::Result<()> {
    // Before the runtime's threads exist; see `ignore_empty_env`.
    let ignored = tandem::config::ignore_empty_env();
    let cli = Cli::parse();
    if !ignored.is_empty() {
        eprintln!("tandem: ignoring empty settings: {}", ignored.join(", "));
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(*config).await,
        Some(Command::History { doc, db }) => history(&doc, &db).await,
        Some(Command::Export {
            doc,
            version,
            format,
            rich_text_fields,
            db,
        }) => export(&doc, version, format, Fields::new(rich_text_fields), &db).await,
        Some(Command::Token(args)) => {
            let auth = Auth::new(Some(&args.secret), None);
            let claims = Claims {
                doc: args.doc,
                access: args.access,
                exp: tandem::auth::expiry_after(args.expires_in).with_context(|| {
                    format!(
                        "--expires-in must be at most {} seconds",
                        tandem::auth::MAX_LIFETIME_SECS
                    )
                })?,
                name: args.name,
                by: None,
                lid: None,
                share: args.share,
            };
            println!("{}", auth.mint(&claims).context("minting token")?);
            Ok(())
        }
        Some(Command::Check(args)) => tandem::check::run(args).await,
        Some(Command::Feed(args)) => tandem::feed_client::follow(args).await,
        Some(Command::Healthcheck { listen }) => healthcheck(listen),
        Some(Command::Webhooks(cmd)) => tandem::webhooks_command(cmd).await,
        Some(Command::Backup(args)) => tandem::data_commands::backup(args).await,
        Some(Command::Restore(args)) => tandem::data_commands::restore(args).await,
        Some(Command::Migrate(args)) => tandem::data_commands::migrate(args).await,
    }
}

/// `limit`: the per-call-site rate limit on INFO lines (see `tandem::LogLimit`).
fn init_tracing(format: LogFormat, limit: LogLimit) {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, Layer};
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn".into());
    // Colour codes only help a person at a terminal; in a file or a pipe they are noise.
    // NO_COLOR (https://no-color.org) turns them off at a terminal too.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.with_filter(limit).boxed(),
        LogFormat::Json => fmt.json().with_filter(limit).boxed(),
    };
    tracing_subscriber::registry().with(filter).with(fmt).init();
}

/// File descriptors kept for what is not a client connection: the database, the editor's
/// files, the runtime.
const OPEN_FILES_RESERVE: u64 = 128;

async fn serve(config: tandem::ServeConfig) -> anyhow::Result<()> {
    let log_limit = LogLimit::new(config.log_lines_per_sec);
    init_tracing(config.log_format, log_limit.clone());
    match tandem::raise_open_file_limit() {
        Ok((before, after)) => {
            if after > before {
                tracing::info!(before, after, "raised the open-file limit");
            }
            // Past the limit accept fails (the server backs off) instead of answering 503.
            let max_connections = config.edge.max_connections as u64;
            if after != 0 && after < max_connections.saturating_add(OPEN_FILES_RESERVE) {
                tracing::warn!(
                    open_files = after,
                    max_connections,
                    "the open-file limit is below TANDEM_MAX_CONNECTIONS plus {OPEN_FILES_RESERVE} for the database and files: raise it (ulimit -n) or lower TANDEM_MAX_CONNECTIONS"
                );
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not raise the open-file limit"),
    }
    let server = tandem::start(config).await?;
    tokio::spawn(log_limit.report(std::time::Duration::from_secs(10)));
    // Tests and scripts read this line to learn the port when listening on :0.
    println!("listening on http://{}", server.addr);
    std::io::stdout().flush()?;
    tracing::info!(addr = %server.addr, "tandem listening");
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn history(doc: &str, db: &DbArgs) -> anyhow::Result<()> {
    let store = tandem_persistence::open(&db.url()?).await?;
    let versions = store.list_versions(doc).await?;
    if versions.is_empty() && store.document(doc).await?.is_none() {
        bail!("document {doc:?} not found");
    }
    println!(
        "{:>7}  {:<25}  {:<8}  {:>10}  {:>8}  label",
        "version", "created", "kind", "bytes", "chars"
    );
    for v in versions {
        println!(
            "{:>7}  {:<25}  {:<8}  {:>10}  {:>8}  {}",
            v.version,
            v.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            v.kind.as_str(),
            v.size_bytes,
            v.text_length,
            v.label.unwrap_or_default()
        );
    }
    Ok(())
}

async fn export(
    doc: &str,
    version: Option<i64>,
    format: ExportFormat,
    fields: Fields,
    db: &DbArgs,
) -> anyhow::Result<()> {
    let store = tandem_persistence::open(&db.url()?).await?;
    let state = match version {
        Some(n) => {
            store
                .version(doc, n)
                .await?
                .with_context(|| format!("version {n} of {doc:?} not found"))?
                .state
        }
        None => {
            let stored = store
                .load(doc)
                .await?
                .with_context(|| format!("document {doc:?} not found"))?;
            let ydoc = text::new_doc();
            if let Some(err) = text::replay(&ydoc, &stored).into_iter().next() {
                return Err(err.into());
            }
            let state = ydoc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            state
        }
    };
    let mut out = std::io::stdout().lock();
    match format {
        ExportFormat::Yjs => out.write_all(&state)?,
        format => {
            let ydoc = text::new_doc();
            ydoc.transact_mut()
                .apply_update(Update::decode_v1(&state)?)?;
            let content = Content::from_doc(&ydoc, &fields);
            match format {
                ExportFormat::Markdown => write!(out, "{}", content.markdown())?,
                ExportFormat::Html => write!(out, "{}", content.html())?,
                ExportFormat::Json => writeln!(out, "{}", content.prosemirror_json())?,
                _ => writeln!(out, "{}", content.plain_text())?,
            }
        }
    }
    Ok(())
}

fn healthcheck(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::io::Read;
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut stream = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        bail!(
            "unhealthy: {}",
            response.lines().next().unwrap_or("no answer")
        )
    }
}

//! `tandem migrate`: every document with its history from one database to another,
//! resumable, and checked at the end.

use anyhow::{bail, Context};
use tandem_persistence::copy::{
    plan_resume, transfer, CopyError, Database, DbSource, DbTarget, Options, Source,
};

use super::{backup::shown, compare, progress::Progress, MigrateArgs, STOPPED};

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    if args.from == args.to {
        bail!("--from and --to name the same database");
    }
    let source = Database::open(&args.from, false)
        .await
        .with_context(|| format!("opening the source {}", shown(&args.from)))?;
    // Opening the target creates its schema, or brings it up to date, before any row.
    let mut target = Database::open(&args.to, true)
        .await
        .with_context(|| format!("opening the target {}", shown(&args.to)))?;
    let (documents, endpoints) = target.contents().await?;
    if args.replace_existing && documents + endpoints > 0 {
        eprintln!("deleting {documents} documents and {endpoints} webhook endpoints from the target first (--replace-existing)");
        target.wipe().await?;
    }
    let mut source = DbSource::open(source).await?;
    let mut options = Options {
        stop_after: args.stop_after,
        ..Options::default()
    };
    if !args.replace_existing && documents > 0 {
        options.skip = plan_resume(source.entries(), &target.documents().await?)?;
        eprintln!(
            "resuming: {} of {} documents are already copied",
            options.skip.len(),
            source.entries().len()
        );
    } else if !args.replace_existing && endpoints > 0 {
        return Err(CopyError::NotEmpty {
            documents,
            endpoints,
        }
        .into());
    }
    let header = source.header().clone();
    eprintln!(
        "copying {} documents from {} to {}",
        header.documents,
        shown(&args.from),
        shown(&args.to)
    );
    let mut target = DbTarget::new(target);
    let mut progress = Progress::new("migrate", header.documents, header.bytes);
    let summary = transfer(&mut source, &mut target, &options, &mut |s| {
        progress.step(s)
    })
    .await?;
    progress.finish();
    source.close().await?.close().await;
    target.into_inner().close().await;
    if summary.stopped {
        eprintln!(
            "stopped after {} documents as asked (--stop-after); run the command again to resume",
            summary.documents
        );
        std::process::exit(STOPPED);
    }
    println!(
        "copied {} documents ({} rows), {} already there",
        summary.documents, summary.rows, summary.skipped
    );
    if args.no_verify {
        return Ok(());
    }
    let from = tandem_persistence::open(&args.from).await?;
    let to = tandem_persistence::open(&args.to).await?;
    let (checked, problems) = compare(&*from, &*to).await?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("  {p}");
        }
        bail!(
            "{} differences between the source and the copy (was the server still writing? \
             stop it and run the command again: it copies changed documents again)",
            problems.len()
        );
    }
    println!("checked {checked} documents: same text, state vector, title and versions in both");
    Ok(())
}

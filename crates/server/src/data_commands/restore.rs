//! `tandem restore`: a backup of either format into an empty database of either kind.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
};

use anyhow::{bail, Context};
use tandem_persistence::copy::{
    transfer, CopyError, Database, DbSource, DbTarget, Options, PortableReader, Source,
};

use super::{backup::shown, progress::Progress, RestoreArgs};

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Portable,
}

/// Which format a backup file is in, from its first bytes.
fn sniff(path: &Path) -> anyhow::Result<Kind> {
    let mut head = [0u8; 16];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = file.read(&mut head)?;
    if head[..n] == b"SQLite format 3\0"[..n.min(16)] && n == 16 {
        Ok(Kind::Sqlite)
    } else if head[..n].starts_with(b"{") {
        Ok(Kind::Portable)
    } else {
        bail!("{} is not a Tandem backup", path.display())
    }
}

/// Whether a portable backup file ends with its end line, checked before anything is
/// written: a file cut short (a full disk, an interrupted copy) is refused whole rather
/// than restored in part. (That the counts on it match is checked as the rows are read.)
fn ends_whole(path: &Path) -> anyhow::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(len.saturating_sub(4096)))?;
    let mut tail = String::new();
    file.read_to_string(&mut tail)?;
    let last = tail.trim_end().rsplit('\n').next().unwrap_or_default();
    let end: Option<serde_json::Value> = serde_json::from_str(last).ok();
    match end.as_ref().and_then(|v| v.get("end")) {
        Some(_) => Ok(()),
        None => Err(CopyError::Truncated.into()),
    }
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let from_stdin = args.backup == Path::new("-");
    let kind = if from_stdin {
        Kind::Portable
    } else {
        sniff(&args.backup)?
    };
    if kind == Kind::Portable && !from_stdin {
        ends_whole(&args.backup)?;
    }
    let url = args.db.url()?;
    let mut target = Database::open(&url, true)
        .await
        .with_context(|| format!("opening {}", shown(&url)))?;
    let (documents, endpoints) = target.contents().await?;
    if documents + endpoints > 0 {
        if !args.replace_existing {
            return Err(CopyError::NotEmpty {
                documents,
                endpoints,
            }
            .into());
        }
        eprintln!("deleting {documents} documents and {endpoints} webhook endpoints first (--replace-existing)");
        target.wipe().await?;
    }
    let mut target = DbTarget::new(target);
    match kind {
        Kind::Portable => {
            let input: Box<dyn BufRead + Send> = if from_stdin {
                Box::new(BufReader::new(std::io::stdin()))
            } else {
                Box::new(BufReader::new(std::fs::File::open(&args.backup)?))
            };
            let mut source = PortableReader::open(input)?;
            run(&mut source, &mut target).await?;
        }
        Kind::Sqlite => {
            // Read from a copy: bringing an older backup's schema up to date writes to it,
            // and a backup is never changed.
            let dir = tempfile::tempdir()?;
            let copy = dir.path().join("backup.db");
            std::fs::copy(&args.backup, &copy)
                .with_context(|| format!("copying {}", args.backup.display()))?;
            let db = Database::open(&format!("sqlite://{}", copy.display()), false).await?;
            let mut source = DbSource::open(db).await?;
            run(&mut source, &mut target).await?;
            source.close().await?.close().await;
        }
    }
    target.into_inner().close().await;
    Ok(())
}

async fn run(source: &mut dyn Source, target: &mut DbTarget) -> anyhow::Result<()> {
    let header = source.header().clone();
    eprintln!(
        "restoring a backup of a {} database made {}",
        header.backend,
        header.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let mut progress = Progress::new("restore", header.documents, header.bytes);
    let summary = transfer(source, target, &Options::default(), &mut |s| {
        progress.step(s)
    })
    .await?;
    progress.finish();
    println!(
        "restored {} documents ({} rows)",
        summary.documents, summary.rows
    );
    Ok(())
}

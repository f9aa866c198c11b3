//! The recorded trace: reading it and turning every keystroke into its own Yjs update.

use std::io::Read;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use yrs::{GetString, Text, Transact};

use crate::{Args, TEXT_FIELD};
#[derive(Deserialize)]
pub(crate) struct Trace {
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<TraceTxn>,
}

#[derive(Deserialize)]
pub(crate) struct TraceTxn {
    /// `[position, deleted, inserted]`, positions in Unicode code points.
    patches: Vec<(u32, u32, String)>,
}

pub(crate) fn new_doc() -> yrs::Doc {
    yrs::Doc::with_options(yrs::Options {
        offset_kind: yrs::OffsetKind::Utf16,
        ..Default::default()
    })
}

/// Plays the trace into a Yjs document, one transaction per patch, and returns each
/// patch's update together with the text they should add up to.
pub(crate) fn keystrokes(args: &Args) -> Result<(Vec<Vec<u8>>, String)> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(&args.trace)
            .with_context(|| format!("opening trace {}", args.trace.display()))?,
    )
    .read_to_end(&mut raw)?;
    let trace: Trace = serde_json::from_slice(&raw).context("parsing trace")?;
    // Code points equal UTF-16 units only for ASCII; other traces would need a conversion.
    let ascii = trace.end_content.is_ascii()
        && trace
            .txns
            .iter()
            .all(|t| t.patches.iter().all(|p| p.2.is_ascii()));
    if !ascii {
        bail!("trace has non-ASCII text; positions would need code point to UTF-16 mapping");
    }

    let doc = new_doc();
    let text = doc.get_or_insert_text(TEXT_FIELD);
    let patches = trace.txns.iter().flat_map(|t| t.patches.iter());
    let total = trace.txns.iter().map(|t| t.patches.len()).sum::<usize>();
    let n = args.limit.unwrap_or(total).min(total);
    let mut updates = Vec::with_capacity(n);
    for (pos, del, ins) in patches.take(n) {
        let mut txn = doc.transact_mut();
        if *del > 0 {
            text.remove_range(&mut txn, *pos, *del);
        }
        if !ins.is_empty() {
            text.insert(&mut txn, *pos, ins);
        }
        updates.push(txn.encode_update_v1());
    }
    let produced = text.get_string(&doc.transact());
    if n == total && produced != trace.end_content {
        bail!("replaying the trace into yrs does not give endContent: the trace reader is wrong");
    }
    Ok((updates, produced))
}

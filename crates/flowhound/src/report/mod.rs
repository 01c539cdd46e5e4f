//! `--report FILE.html`: one self-contained page a hunter or an on-call engineer reads
//! instead of JSON — the run's summary, the findings ranked, and each finding's evidence as
//! a picture (a beacon's timeline and interval histogram, an exfiltration's volume against
//! its baseline band, a lateral move's new edges against the host's history).
//!
//! The page has no script and fetches nothing (inline SVG and CSS only), so it opens
//! offline, prints, and can be attached to a ticket. Its data comes from the run itself
//! ([`data`]); [`svg`] draws, [`page`] lays out.

mod data;
mod page;
mod svg;

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

pub use data::Run;

/// Writes the report of `run` to `path` atomically, like the findings file.
pub fn write(path: &Path, run: &Run<'_>) -> Result<()> {
    let page = data::build(run);
    let html = page::render(&page);
    crate::extract::write_file_atomically(path, |w| {
        w.write_all(html.as_bytes()).with_context(|| format!("writing {}", path.display()))
    })?;
    tracing::info!(path = %path.display(), findings = run.findings.len(), bytes = html.len(), "report written");
    Ok(())
}

/// Text made safe for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An anchor id for a host (addresses hold `.` and `:`, which ids allow but CSS selectors
/// and some tools dislike).
fn host_anchor(host: &str) -> String {
    let id: String = host.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("host-{id}")
}

#[cfg(test)]
mod tests;

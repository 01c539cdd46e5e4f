//! `flowhound inspect`: what is in these flow logs (docs/cli.md).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use flowhound_flowlog::time::format_rfc3339;
use flowhound_flowlog::{NullSink, ScanSummary};

use crate::cli::InspectArgs;
use crate::sources;

pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let plan = sources::plan(&args.source)?;
    let (reports, NullSink) = sources::read_all(&plan, || NullSink);
    let summary = ScanSummary::from_reports(&reports, plan.pruned, args.samples);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &summary)?;
    }
    out.flush()?;
    sources::check_damage(&summary, args.source.skip_corrupt)?;
    Ok(ExitCode::SUCCESS)
}

fn write_text(out: &mut impl Write, s: &ScanSummary) -> std::io::Result<()> {
    let time = |t: Option<u64>| t.map_or_else(|| "-".to_string(), |t| format!("{} ({t})", format_rfc3339(t)));
    writeln!(
        out,
        "objects      {} read, {} skipped by date, {} damaged, {} empty",
        s.objects, s.objects_pruned, s.objects_failed, s.objects_empty
    )?;
    writeln!(out, "records      {} ({} NODATA, {} SKIPDATA)", s.records, s.nodata, s.skipdata)?;
    writeln!(out, "actions      {} ACCEPT, {} REJECT", s.accept, s.reject)?;
    writeln!(out, "malformed    {} lines", s.malformed)?;
    if s.out_of_range > 0 {
        writeln!(out, "out of range {} records outside --from/--to", s.out_of_range)?;
    }
    writeln!(out, "first start  {}", time(s.first_start))?;
    writeln!(out, "last end     {}", time(s.last_end))?;
    let versions: Vec<String> = s.versions.iter().map(u8::to_string).collect();
    writeln!(out, "versions     {}", if versions.is_empty() { "-".into() } else { versions.join(", ") })?;
    writeln!(out, "interfaces   {}", s.interfaces)?;
    writeln!(out, "fields       {}", s.fields.iter().cloned().collect::<Vec<_>>().join(" "))?;
    if !s.unknown_fields.is_empty() {
        writeln!(
            out,
            "unknown      {} (carried, ignored)",
            s.unknown_fields.iter().cloned().collect::<Vec<_>>().join(" ")
        )?;
    }
    writeln!(out, "bytes        {} read, {} decompressed", s.bytes_read, s.bytes_decompressed)?;
    let skipping: Vec<_> = s.placeholders.iter().filter(|(_, c)| c.skipdata > 0).collect();
    if !skipping.is_empty() {
        writeln!(out, "SKIPDATA on  {} interface(s): counts there are incomplete", skipping.len())?;
        for (eni, c) in skipping.iter().take(10) {
            writeln!(out, "  {eni}: {} SKIPDATA", c.skipdata)?;
        }
    }
    for sample in &s.malformed_samples {
        writeln!(out, "malformed    {}:{}: {}", sample.object, sample.line, sample.reason)?;
    }
    for err in &s.errors {
        writeln!(out, "damaged      {err}")?;
    }
    Ok(())
}

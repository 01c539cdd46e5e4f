//! `flowhound extract`: host-window features to Parquet, CSV or JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use clap::Args;
use flowhound_features::{COLUMNS, ColumnKind, FeatureConfig, FeatureState, Features, HostWindow, Value};
use flowhound_flowlog::ScanSummary;
use flowhound_flowlog::time::format_rfc3339;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs};
use crate::sources;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output file; the format follows the extension: .parquet, .csv or .jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Feature window (e.g. 5m, 15m, 1h); must divide a day.
    #[arg(long, default_value = "15m")]
    pub window: String,
    /// Horizon of the pair timing series (a whole number of windows).
    #[arg(long, default_value = "24h")]
    pub horizon: String,
    #[command(flatten)]
    pub addresses: AddressArgs,
    /// TOML configuration: only the [features] table (internal/external blocks) is read.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also write the pair timing series (beaconing input) as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    pub pairs_out: Option<PathBuf>,
    /// Also write the internal edges per window as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    pub edges_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
    JsonLines,
}

fn format_of(path: &Path) -> Result<Format, UsageError> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".parquet") {
        Ok(Format::Parquet)
    } else if name.ends_with(".csv") {
        Ok(Format::Csv)
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json") {
        Ok(Format::JsonLines)
    } else {
        Err(UsageError(format!("{}: unknown output format (use .parquet, .csv or .jsonl)", path.display())))
    }
}

fn parse_secs(flag: &str, value: &str) -> Result<u64, UsageError> {
    let d = humantime::parse_duration(value)
        .map_err(|e| UsageError(format!("--{flag} {value:?}: not a duration (e.g. 5m, 15m, 1h): {e}")))?;
    if d.subsec_nanos() != 0 {
        return Err(UsageError(format!("--{flag} {value:?}: must be whole seconds")));
    }
    Ok(d.as_secs())
}

fn config(args: &ExtractArgs) -> Result<FeatureConfig, UsageError> {
    let window = parse_secs("window", &args.window)?;
    let horizon = parse_secs("horizon", &args.horizon)?;
    let settings = crate::train::read_settings(args.config.as_deref()).map_err(|e| UsageError(format!("{e:#}")))?;
    let blocks = crate::train::address_blocks(&settings, &args.addresses)?;
    Ok(FeatureConfig::new(window, horizon, &blocks.internal)
        .map_err(|e| UsageError(e.to_string()))?
        .with_external(&blocks.external))
}

pub fn run(args: &ExtractArgs) -> Result<ExitCode> {
    // Refuse bad options before reading anything.
    let format = format_of(&args.out)?;
    let cfg = Arc::new(config(args)?);
    let plan = sources::plan(&args.source)?;
    let started = std::time::Instant::now();
    let (reports, state) = sources::read_all(&plan, || FeatureState::new(cfg.clone()));
    let summary = ScanSummary::from_reports(&reports, plan.pruned, 10);
    sources::check_damage(&summary, args.source.skip_corrupt)?;
    let features = state.finish();
    let read_secs = started.elapsed().as_secs_f64();
    write_rows(&args.out, format, &features.rows).with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.pairs_out {
        write_pairs(path, &features).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.edges_out {
        write_edges(path, &features).with_context(|| format!("writing {}", path.display()))?;
    }
    let s = &features.stats;
    tracing::info!(
        objects = summary.objects,
        records = summary.records,
        rows = features.rows.len(),
        pairs = features.pairs.len(),
        edges = features.edges.len(),
        duplicates_dropped = s.duplicates_dropped,
        unattributed = s.unattributed,
        nodata = s.nodata,
        skipdata = s.skipdata,
        untimed = s.untimed,
        interfaces_unresolved = s.interfaces_unresolved,
        seconds = format!("{read_secs:.3}"),
        out = %args.out.display(),
        "features extracted"
    );
    let refused = s.host_windows_refused + s.edges_refused + s.pairs_refused + s.set_overflow + s.events_dropped;
    if refused > 0 {
        tracing::warn!(
            host_windows_refused = s.host_windows_refused,
            edges_refused = s.edges_refused,
            pairs_refused = s.pairs_refused,
            set_overflow = s.set_overflow,
            events_dropped = s.events_dropped,
            "limits reached: some counts are lower bounds (see the overflow column)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_rows(path: &Path, format: Format, rows: &[HostWindow]) -> Result<()> {
    let file = File::create(path)?;
    match format {
        Format::Parquet => write_parquet(file, rows),
        Format::Csv => {
            let mut out = BufWriter::new(file);
            write_csv(&mut out, rows)?;
            out.flush()?;
            Ok(())
        }
        Format::JsonLines => {
            let mut out = BufWriter::new(file);
            write_jsonl(&mut out, rows)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Rows per Parquet row group / Arrow batch.
const BATCH_ROWS: usize = 65_536;

fn arrow_schema() -> Schema {
    let mut fields = Vec::with_capacity(COLUMNS.len());
    for c in COLUMNS {
        let (data_type, nullable) = match c.kind {
            ColumnKind::Text => (DataType::Utf8, true),
            ColumnKind::Timestamp => (DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
            ColumnKind::UInt => (DataType::UInt64, false),
            ColumnKind::Float => (DataType::Float64, false),
            ColumnKind::Bool => (DataType::Boolean, false),
        };
        fields.push(Field::new(c.name, data_type, nullable));
    }
    Schema::new(fields)
}

fn write_parquet(file: File, rows: &[HostWindow]) -> Result<()> {
    let schema = Arc::new(arrow_schema());
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(BATCH_ROWS))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for chunk in rows.chunks(BATCH_ROWS) {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
        for c in COLUMNS {
            let array: ArrayRef = match c.kind {
                ColumnKind::Text => {
                    let mut values = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        values.push(match c.value(row) {
                            Value::Text(v) => v,
                            _ => None,
                        });
                    }
                    Arc::new(StringArray::from(values))
                }
                ColumnKind::Timestamp => {
                    let mut values = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        values.push(match c.value(row) {
                            // Parquet has no second unit: milliseconds keep the logical
                            // TIMESTAMP(UTC) type that pandas, polars and DuckDB read as such.
                            Value::Timestamp(t) => i64::try_from(t).unwrap_or(i64::MAX / 1000).saturating_mul(1000),
                            _ => 0,
                        });
                    }
                    Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC"))
                }
                ColumnKind::UInt => {
                    let mut values = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        values.push(match c.value(row) {
                            Value::UInt(v) => v,
                            _ => 0,
                        });
                    }
                    Arc::new(UInt64Array::from(values))
                }
                ColumnKind::Float => {
                    let mut values = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        values.push(match c.value(row) {
                            Value::Float(v) => v,
                            _ => 0.0,
                        });
                    }
                    Arc::new(Float64Array::from(values))
                }
                ColumnKind::Bool => {
                    let mut values = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        values.push(matches!(c.value(row), Value::Bool(true)));
                    }
                    Arc::new(BooleanArray::from(values))
                }
            };
            arrays.push(array);
        }
        writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
    }
    writer.close()?;
    Ok(())
}

fn csv_field(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    if text.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", text.replace('"', "\"\""))
    } else {
        out.write_all(text.as_bytes())
    }
}

fn write_csv(out: &mut impl Write, rows: &[HostWindow]) -> std::io::Result<()> {
    for (i, c) in COLUMNS.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(c.name.as_bytes())?;
    }
    out.write_all(b"\n")?;
    for row in rows {
        for (i, c) in COLUMNS.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            match c.value(row) {
                Value::Text(Some(s)) => csv_field(out, &s)?,
                Value::Text(None) => {}
                Value::Timestamp(t) => out.write_all(format_rfc3339(t).as_bytes())?,
                Value::UInt(v) => write!(out, "{v}")?,
                Value::Float(v) => write!(out, "{v}")?,
                Value::Bool(b) => write!(out, "{b}")?,
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn json_value(v: Value) -> serde_json::Value {
    match v {
        Value::Text(Some(s)) => serde_json::Value::String(s),
        Value::Text(None) => serde_json::Value::Null,
        Value::Timestamp(t) => serde_json::Value::String(format_rfc3339(t)),
        Value::UInt(v) => serde_json::Value::from(v),
        Value::Float(v) => serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Bool(b) => serde_json::Value::Bool(b),
    }
}

fn write_jsonl(out: &mut impl Write, rows: &[HostWindow]) -> std::io::Result<()> {
    for row in rows {
        // Keys in column order (serde_json's map would sort them).
        out.write_all(b"{")?;
        for (i, c) in COLUMNS.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, c.name)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, &json_value(c.value(row)))?;
        }
        out.write_all(b"}\n")?;
    }
    Ok(())
}

fn write_pairs(path: &Path, features: &Features) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for p in &features.pairs {
        let line = serde_json::json!({
            "host": p.host.to_string(),
            "peer": p.peer.to_string(),
            "port": p.port,
            "protocol": p.protocol,
            "horizon_start": format_rfc3339(p.horizon_start),
            "horizon_end": format_rfc3339(p.horizon_end),
            "aws_service": p.aws_service,
            "events_total": p.events_total,
            "events_dropped": p.events_dropped,
            "start_deltas": p.start_deltas,
            "bytes": p.bytes,
            "packets": p.packets,
            "durations": p.durations,
            "src_ports": p.src_ports,
            "syn": p.syn,
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn write_edges(path: &Path, features: &Features) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for e in &features.edges {
        let line = serde_json::json!({
            "window_start": format_rfc3339(e.window_start),
            "window_end": format_rfc3339(e.window_end),
            "src": e.src.to_string(),
            "dst": e.dst.to_string(),
            "dst_port": e.dst_port,
            "protocol": e.protocol,
            "flows_accept": e.flows_accept,
            "flows_reject": e.flows_reject,
            "packets": e.packets,
            "bytes": e.bytes,
            "syn": e.syn,
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowhound_flowlog::Addr;

    fn sample() -> HostWindow {
        HostWindow {
            host: Addr::from_ipv4_bits(0x0a00_0001),
            window_start: 1_795_849_200,
            window_end: 1_795_850_100,
            interface_id: Some("eni-1".into()),
            instance_id: None,
            flows_out: 2,
            flows_in: 1,
            bytes_out: 300,
            bytes_in: 99,
            packets_out: 3,
            packets_in: 1,
            flows_out_internal: 0,
            flows_in_internal: 0,
            bytes_out_internal: 0,
            bytes_in_internal: 0,
            packets_out_internal: 0,
            packets_in_internal: 0,
            flows_out_external: 2,
            flows_in_external: 1,
            bytes_out_external: 300,
            bytes_in_external: 99,
            packets_out_external: 3,
            packets_in_external: 1,
            bytes_out_aws: 0,
            bytes_in_aws: 0,
            top_external_dst: Some(Addr::from_ipv4_bits(0x0101_0101)),
            top_external_dst_bytes: 200,
            top_external_dst_share: 2.0 / 3.0,
            peers_internal: 0,
            peers_external: 2,
            dsts_out: 2,
            dsts_out_internal: 0,
            dst_ports: 1,
            dst_ports_in: 1,
            src_ports_out: 2,
            syn_out: 0,
            syn_in: 0,
            rejects_out: 0,
            rejects_in: 0,
            admin_conns_out: 0,
            admin_conns_in: 0,
            max_flow_bytes_out: 200,
            out_in_ratio: 3.01,
            incomplete: false,
            overflow: 0,
        }
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(format_of(Path::new("a/b.parquet")).unwrap(), Format::Parquet);
        assert_eq!(format_of(Path::new("x.CSV")).unwrap(), Format::Csv);
        assert_eq!(format_of(Path::new("x.jsonl")).unwrap(), Format::JsonLines);
        assert!(format_of(Path::new("x.xlsx")).is_err());
    }

    #[test]
    fn csv_has_header_and_rfc3339_times() {
        let mut out = Vec::new();
        write_csv(&mut out, &[sample()]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("host,window_start,window_end,interface_id,instance_id,flows_out,"));
        let row = lines.next().unwrap();
        assert!(row.starts_with("10.0.0.1,2026-11-28T07:00:00Z,2026-11-28T07:15:00Z,eni-1,,2,1,300,99,"), "{row}");
        assert!(row.contains(",1.1.1.1,200,0.6666666666666666,"), "{row}");
        assert!(row.ends_with(",200,3.01,false,0"), "{row}");
    }

    #[test]
    fn jsonl_keeps_column_order() {
        let mut out = Vec::new();
        write_jsonl(&mut out, &[sample()]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"host":"10.0.0.1","window_start":"2026-11-28T07:00:00Z","#), "{text}");
        assert!(text.contains(r#""instance_id":null"#));
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["bytes_out_external"], 300);
    }

    #[test]
    fn parquet_round_trips_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        write_parquet(File::create(&path).unwrap(), &[sample(), sample()]).unwrap();
        let file = File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(
            reader.schema().field_with_name("window_start").unwrap().data_type(),
            &arrow_schema().field_with_name("window_start").unwrap().data_type().clone()
        );
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let bytes = batch.column_by_name("bytes_out").unwrap().as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(bytes.value(1), 300);
    }

    #[test]
    fn bad_options_are_usage_errors() {
        use clap::Parser;
        let args = |extra: &[&str]| -> ExtractArgs {
            let mut argv = vec!["flowhound", "extract", "x", "--out", "o.csv"];
            argv.extend_from_slice(extra);
            match crate::cli::Cli::try_parse_from(argv).unwrap().command {
                crate::cli::Command::Extract(a) => a,
                other => panic!("{other:?}"),
            }
        };
        let cfg = config(&args(&[])).unwrap();
        assert_eq!((cfg.window_secs(), cfg.horizon_secs()), (900, 86_400));
        assert_eq!(config(&args(&["--window", "1h", "--vpc-cidr", "2600:1f18::/56"])).unwrap().window_secs(), 3600);
        assert!(config(&args(&["--window", "7s"])).is_err());
        assert!(config(&args(&["--window", "1h", "--horizon", "90m"])).is_err());
        assert!(config(&args(&["--vpc-cidr", "10.0.0.0/99"])).is_err());
    }
}

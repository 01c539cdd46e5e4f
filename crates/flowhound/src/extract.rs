//! `flowhound extract`: host-window features to Parquet, CSV or JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};

use anyhow::{Context, Result};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use clap::Args;
use flowhound_features::{
    COLUMNS, ColumnKind, ExtractStats, FeatureConfig, FeatureState, Features, HostWindow, InternalEdge, PairSeries,
    Value,
};
use flowhound_flowlog::time::format_rfc3339;
use flowhound_flowlog::{MAX_START_BEFORE_BUCKET_SECS, ObjectRef, Partial, ScanSummary};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::UsageError;
use crate::cli::{AddressArgs, SourceArgs, StateArgs};
use crate::config::{self, Secs};
use crate::sources;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// Output file; the format follows the extension: .parquet, .csv or .jsonl.
    #[arg(long, required_unless_present = "state_out")]
    pub out: Option<PathBuf>,
    /// Write the mergeable feature state of SOURCE instead of tables, for `merge` and for
    /// `train`/`score`/`hunt`/`extract --state` (docs/scale.md): a file, s3://bucket/key, or
    /// a folder or S3 prefix ending with `/` (then part-KKKK-of-NNNN.state in it).
    #[arg(long, value_name = "STATE", conflicts_with_all = ["out", "pairs_out", "edges_out", "states"])]
    pub state_out: Option<String>,
    /// With --state-out: read only the K-th of N partitions of the objects, a run of
    /// consecutive hours (docs/scale.md); `array/N` takes K from an AWS Batch array job's
    /// index.
    #[arg(long, value_name = "K/N", requires = "state_out", conflicts_with = "last")]
    pub partition: Option<crate::partial::Partition>,
    /// Feature window (e.g. 5m, 15m, 1h); must divide a day.
    #[arg(long, default_value_t = config::DEFAULT_WINDOW)]
    pub window: Secs,
    /// Horizon of the pair timing series (a whole number of windows).
    #[arg(long, default_value_t = config::DEFAULT_HORIZON)]
    pub horizon: Secs,
    #[command(flatten)]
    pub addresses: AddressArgs,
    /// TOML configuration (a file or s3://bucket/key): only the [features] table (internal/external
    /// blocks) is read.
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

fn config(args: &ExtractArgs) -> Result<FeatureConfig, UsageError> {
    let settings = crate::train::read_settings(args.config.as_deref()).map_err(|e| UsageError(format!("{e:#}")))?;
    let blocks = crate::train::address_blocks(&settings, &args.addresses);
    let cfg = crate::train::feature_config(args.window.0, args.horizon.0, &blocks)?;
    if args.state_out.is_some() {
        // Every table: the state feeds train and hunt, which need pairs and edges.
        return Ok(cfg);
    }
    // Tables nobody asked for are not computed: the rows do not depend on them.
    Ok(cfg.with_tables(args.edges_out.is_some(), args.pairs_out.is_some()))
}

/// Objects of the AWS key layout whose time buckets start in the same hour are read
/// together (in parallel), then every window and pair horizon that no later object can
/// reach is written out and forgotten.
const GROUP_SECS: u64 = 3_600;

/// The plan's objects in reading groups, each with the watermark reached once it is read:
/// no record of a later group starts (or ends) before it. `None` for the last group, and
/// for everything when an object's name does not tell its time.
fn groups(objects: &[ObjectRef]) -> Vec<(Vec<ObjectRef>, Option<u64>)> {
    let mut timed = Vec::with_capacity(objects.len());
    for object in objects {
        match &object.key {
            Some(key) => timed.push((key.end_range().0, object.clone())),
            None => return vec![(objects.to_vec(), None)],
        }
    }
    timed.sort_by_key(|(lo, _)| *lo);
    let mut groups: Vec<(Vec<ObjectRef>, Option<u64>)> = Vec::new();
    let mut current_hour = None;
    for (lo, object) in timed {
        let hour = lo / GROUP_SECS;
        if current_hour != Some(hour) {
            if let Some(last) = groups.last_mut() {
                // Records of this and later objects end at or after `lo` and start at most
                // the key layout's slack before it.
                last.1 = Some(lo.saturating_sub(MAX_START_BEFORE_BUCKET_SECS));
            }
            groups.push((Vec::new(), None));
            current_hour = Some(hour);
        }
        if let Some(last) = groups.last_mut() {
            last.0.push(object);
        }
    }
    groups
}

/// Reads a plan's objects hour group by hour group, handing `drained` the host windows,
/// edges and pair horizons no later object can reach after each group, so the open tables
/// hold hours, not the whole range. `drained` returns false to stop reading. Returns the
/// objects' reports and the state holding what is still open.
fn read_draining(
    plan: &sources::Plan,
    cfg: &Arc<FeatureConfig>,
    mut drained: impl FnMut(Features, Vec<PairSeries>) -> bool,
) -> (Vec<flowhound_flowlog::ObjectReport>, FeatureState) {
    let mut reports = Vec::with_capacity(plan.objects.len());
    let mut state = FeatureState::new(cfg.clone());
    let reader = sources::Reader::new(plan);
    for (objects, watermark) in groups(&plan.objects) {
        // The first partial of the group is the running state itself: merging each
        // group into it would rehash every open window once per group.
        let running = Mutex::new(Some(std::mem::replace(&mut state, FeatureState::new(cfg.clone()))));
        let make = || {
            let taken = running.lock().ok().and_then(|mut slot| slot.take());
            taken.unwrap_or_else(|| FeatureState::new(cfg.clone()))
        };
        let (group_reports, group_state) = reader.read(&objects, make);
        reports.extend(group_reports);
        state = group_state;
        // Only if no partial was made at all (an empty group) is the state still here.
        if let Some(untouched) = running.lock().ok().and_then(|mut slot| slot.take()) {
            state.merge(untouched);
        }
        if let Some(watermark) = watermark {
            let windows = state.drain_finished(watermark);
            let pairs = state.drain_finished_pairs(watermark);
            if !drained(windows, pairs) {
                break;
            }
        }
    }
    (reports, state)
}

/// Reads a plan's objects into features in memory, draining as [`run`] does for its files:
/// a week of a large fleet read into one state would fill the edge and pair tables and
/// refuse data. The result equals `finish` on the whole input (rows and edges in window
/// order; pairs re-sorted by key and horizon).
pub fn read_features(
    plan: &sources::Plan,
    cfg: &Arc<FeatureConfig>,
) -> (Vec<flowhound_flowlog::ObjectReport>, Features) {
    let mut out = Features { addresses: cfg.declared_blocks().clone(), ..Features::default() };
    let mut keep = |windows: Features, pairs: Vec<PairSeries>| {
        out.rows.extend(windows.rows);
        out.edges.extend(windows.edges);
        out.stats.merge(&windows.stats);
        out.pairs.extend(pairs);
        true
    };
    let (reports, state) = read_draining(plan, cfg, &mut keep);
    let mut rest = state.finish();
    let pairs = std::mem::take(&mut rest.pairs);
    keep(rest, pairs);
    out.pairs.sort_by_key(|p| (p.host, p.peer, p.port, p.protocol, p.horizon_start));
    (reports, out)
}

/// Totals of what was written, for the final log line.
#[derive(Default)]
struct Written {
    rows: usize,
    pairs: usize,
    edges: usize,
    stats: ExtractStats,
}

/// `extract --state-out`: the partition's objects read into one open state, written whole.
fn run_state_out(args: &ExtractArgs, location: &str) -> Result<ExitCode> {
    let location = crate::partial::output_location(location, args.partition);
    let cfg = Arc::new(config(args)?);
    let mut plan = sources::plan(&args.source)?;
    let listed = plan.objects.len();
    if let Some(p) = args.partition {
        let range = plan.opts.from.zip(plan.opts.to);
        plan.objects = crate::partial::select(std::mem::take(&mut plan.objects), p, range);
        tracing::info!(partition = %p, objects = plan.objects.len(), of = listed, "partition selected");
    }
    let started = std::time::Instant::now();
    let (state, summary) = crate::partial::read_state(&plan, &cfg, args.source.skip_corrupt)?;
    let host_windows = state.host_windows();
    crate::partial::StateFile {
        config: crate::partial::StateConfig::of(&cfg),
        partitions: args.partition.into_iter().collect(),
        totals: crate::partial::Totals::of(&summary),
        state,
    }
    .write(&location)?;
    tracing::info!(
        objects = summary.objects,
        records = summary.records,
        host_windows,
        seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
        out = %location,
        "feature state written"
    );
    Ok(ExitCode::SUCCESS)
}

/// `extract --state FILE...`: the tables of merged feature states.
fn run_from_states(args: &ExtractArgs, format: Format, cfg: &FeatureConfig) -> Result<ExitCode> {
    let (mut features, totals) = crate::partial::features(&args.state.states, cfg)?;
    let mut outputs = Outputs::create(args, format)?;
    let pairs = std::mem::take(&mut features.pairs);
    let mut written = Written::default();
    if let Err(e) = outputs.write(&features, &pairs, &mut written) {
        outputs.remove();
        return Err(e.context("writing the output"));
    }
    outputs.close().context("writing the output")?;
    tracing::info!(
        records = totals.records,
        rows = written.rows,
        pairs = written.pairs,
        edges = written.edges,
        "features extracted from feature states"
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: &ExtractArgs) -> Result<ExitCode> {
    if let Some(path) = &args.state_out {
        return run_state_out(args, path);
    }
    let Some(out) = &args.out else { return Err(UsageError("--out FILE or --state-out FILE is needed".into()).into()) };
    // Refuse bad options before reading anything.
    let format = format_of(out)?;
    let cfg = Arc::new(config(args)?);
    if !args.state.states.is_empty() {
        return run_from_states(args, format, &cfg);
    }
    let plan = sources::plan(&args.source)?;
    let started = std::time::Instant::now();
    let outputs = Outputs::create(args, format)?;
    // Output is encoded and written on its own thread, while the next group is read.
    let (sender, receiver) = mpsc::sync_channel::<(Features, Vec<PairSeries>)>(1);
    let writer = std::thread::spawn(move || write_all(outputs, receiver));
    // A failed send means the writer stopped on an error, which joining it returns.
    let (reports, state) = read_draining(&plan, &cfg, |windows, pairs| sender.send((windows, pairs)).is_ok());
    let summary = ScanSummary::from_reports(&reports, plan.pruned, 10);
    let damage = sources::check_damage(&summary, args.source.skip_corrupt);
    if damage.is_ok() {
        let mut features = state.finish();
        let pairs = std::mem::take(&mut features.pairs);
        // A failed send means the writer failed: its error comes from joining it.
        let _ = sender.send((features, pairs));
    }
    drop(sender);
    let (outputs, written) = match writer.join() {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    if let Err(e) = damage {
        outputs.remove();
        return Err(e);
    }
    outputs.close().context("writing the output")?;
    let read_secs = started.elapsed().as_secs_f64();
    let s = &written.stats;
    tracing::info!(
        objects = summary.objects,
        records = summary.records,
        rows = written.rows,
        pairs = written.pairs,
        edges = written.edges,
        duplicates_dropped = s.duplicates_dropped,
        unattributed = s.unattributed,
        nodata = s.nodata,
        skipdata = s.skipdata,
        untimed = s.untimed,
        interfaces_unresolved = s.interfaces_unresolved,
        seconds = format!("{read_secs:.3}"),
        out = %out.display(),
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

/// Writes every group's output as it arrives; returns the still open files and the
/// totals once the sender is dropped.
fn write_all(mut outputs: Outputs, groups: mpsc::Receiver<(Features, Vec<PairSeries>)>) -> Result<(Outputs, Written)> {
    let mut written = Written::default();
    for (features, pairs) in groups {
        if let Err(e) = outputs.write(&features, &pairs, &mut written) {
            outputs.remove();
            return Err(e.context("writing the output"));
        }
    }
    Ok((outputs, written))
}

/// The output files, written group by group as windows finish. Each is written under a
/// temporary name beside its destination and renamed into place only when the whole run
/// succeeded, so a failed or killed run never truncates or deletes a previous output.
struct Outputs {
    rows: RowSink,
    pairs: Option<BufWriter<File>>,
    edges: Option<BufWriter<File>>,
    /// (destination, temporary file being written).
    paths: Vec<(PathBuf, PathBuf)>,
}

/// The temporary name of `path` while it is written: hidden, in the same directory (so the
/// final rename stays on one file system) and unique to this process.
pub(crate) fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.flowhound-{}.tmp", std::process::id()))
}

/// Writes `path` whole under its [`temporary`] name, fsyncs it and renames it into place:
/// a failed or killed run leaves the previous file as it was. `write` fills the file.
pub(crate) fn write_file_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let tmp = temporary(path);
    let written = (|| -> Result<()> {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

impl Outputs {
    fn create(args: &ExtractArgs, format: Format) -> Result<Outputs> {
        let mut paths = Vec::new();
        let opened = (|| {
            let mut open = |dest: &Path| {
                let tmp = temporary(dest);
                let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
                paths.push((dest.to_path_buf(), tmp));
                anyhow::Ok(file)
            };
            let out = args.out.as_deref().context("--out FILE is needed")?;
            let rows = RowSink::new(open(out)?, format)?;
            let pairs = args.pairs_out.as_deref().map(&mut open).transpose()?.map(BufWriter::new);
            let edges = args.edges_out.as_deref().map(&mut open).transpose()?.map(BufWriter::new);
            anyhow::Ok((rows, pairs, edges))
        })();
        match opened {
            Ok((rows, pairs, edges)) => Ok(Outputs { rows, pairs, edges, paths }),
            Err(e) => {
                remove_temporaries(&paths);
                Err(e)
            }
        }
    }

    fn write(&mut self, features: &Features, pairs: &[PairSeries], written: &mut Written) -> Result<()> {
        self.rows.write(&features.rows)?;
        if let Some(out) = &mut self.pairs {
            write_pairs(out, pairs)?;
        }
        if let Some(out) = &mut self.edges {
            write_edges(out, &features.edges)?;
        }
        written.rows += features.rows.len();
        written.pairs += pairs.len();
        written.edges += features.edges.len();
        written.stats.merge(&features.stats);
        Ok(())
    }

    /// Finishes every file, makes it durable and renames it over its destination.
    fn close(self) -> Result<()> {
        let paths = self.paths.clone();
        let finished = (|| -> Result<()> {
            self.rows.close()?;
            for mut out in self.pairs.into_iter().chain(self.edges) {
                out.flush()?;
            }
            for (_, tmp) in &paths {
                File::open(tmp).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", tmp.display()))?;
            }
            Ok(())
        })();
        if let Err(e) = finished {
            remove_temporaries(&paths);
            return Err(e);
        }
        for (i, (dest, tmp)) in paths.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, dest) {
                remove_temporaries(&paths[i..]);
                return Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()));
            }
        }
        Ok(())
    }

    /// A failed run leaves no partial output behind, and the previous outputs untouched.
    fn remove(self) {
        let paths = self.paths.clone();
        drop(self);
        remove_temporaries(&paths);
    }
}

fn remove_temporaries(paths: &[(PathBuf, PathBuf)]) {
    for (_, tmp) in paths {
        if let Err(e) = std::fs::remove_file(tmp) {
            tracing::warn!(path = %tmp.display(), error = %e, "could not remove the partial output");
        }
    }
}

enum RowSink {
    /// Rows wait in `pending` until a full row group is there.
    Parquet {
        writer: Box<ArrowWriter<File>>,
        schema: Arc<Schema>,
        pending: Vec<HostWindow>,
    },
    Csv(BufWriter<File>),
    JsonLines(BufWriter<File>),
}

impl RowSink {
    fn new(file: File, format: Format) -> Result<RowSink> {
        Ok(match format {
            Format::Parquet => {
                let schema = Arc::new(arrow_schema());
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
                    .set_max_row_group_row_count(Some(BATCH_ROWS))
                    .build();
                let writer = Box::new(ArrowWriter::try_new(file, schema.clone(), Some(props))?);
                RowSink::Parquet { writer, schema, pending: Vec::new() }
            }
            Format::Csv => {
                let mut out = BufWriter::new(file);
                write_csv_header(&mut out)?;
                RowSink::Csv(out)
            }
            Format::JsonLines => RowSink::JsonLines(BufWriter::new(file)),
        })
    }

    fn write(&mut self, rows: &[HostWindow]) -> Result<()> {
        match self {
            RowSink::Parquet { writer, schema, pending } => {
                pending.extend_from_slice(rows);
                if pending.len() >= BATCH_ROWS {
                    let full = pending.len() - pending.len() % BATCH_ROWS;
                    for chunk in pending[..full].chunks(BATCH_ROWS) {
                        writer.write(&record_batch(schema, chunk)?)?;
                    }
                    pending.drain(..full);
                }
            }
            RowSink::Csv(out) => write_csv_rows(out, rows)?,
            RowSink::JsonLines(out) => write_jsonl(out, rows)?,
        }
        Ok(())
    }

    fn close(self) -> Result<()> {
        match self {
            RowSink::Parquet { mut writer, schema, pending } => {
                if !pending.is_empty() {
                    writer.write(&record_batch(&schema, &pending)?)?;
                }
                writer.close()?;
            }
            RowSink::Csv(mut out) | RowSink::JsonLines(mut out) => out.flush()?,
        }
        Ok(())
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

fn record_batch(schema: &Arc<Schema>, chunk: &[HostWindow]) -> Result<RecordBatch> {
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
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

fn csv_field(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    if text.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", text.replace('"', "\"\""))
    } else {
        out.write_all(text.as_bytes())
    }
}

fn write_csv_header(out: &mut impl Write) -> std::io::Result<()> {
    for (i, c) in COLUMNS.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(c.name.as_bytes())?;
    }
    out.write_all(b"\n")
}

fn write_csv_rows(out: &mut impl Write, rows: &[HostWindow]) -> std::io::Result<()> {
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

/// One line of `--pairs-out`. Fields in name order: the lines were first written as
/// `serde_json` maps, which sort their keys, and stay byte for byte the same.
#[derive(Serialize)]
struct PairLine<'a> {
    aws_service: bool,
    bytes: &'a [u64],
    durations: &'a [u32],
    events_dropped: u64,
    events_total: u64,
    horizon_end: String,
    horizon_start: String,
    host: String,
    packets: &'a [u64],
    peer: String,
    port: u16,
    protocol: u8,
    src_ports: &'a [u16],
    start_deltas: &'a [u32],
    syn: &'a [bool],
}

fn write_pairs(out: &mut impl Write, pairs: &[PairSeries]) -> Result<()> {
    for p in pairs {
        let line = PairLine {
            aws_service: p.aws_service,
            bytes: &p.bytes,
            durations: &p.durations,
            events_dropped: p.events_dropped,
            events_total: p.events_total,
            horizon_end: format_rfc3339(p.horizon_end),
            horizon_start: format_rfc3339(p.horizon_start),
            host: p.host.to_string(),
            packets: &p.packets,
            peer: p.peer.to_string(),
            port: p.port,
            protocol: p.protocol,
            src_ports: &p.src_ports,
            start_deltas: &p.start_deltas,
            syn: &p.syn,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One line of `--edges-out`, fields in name order like [`PairLine`].
#[derive(Serialize)]
struct EdgeLine {
    bytes: u64,
    dst: String,
    dst_port: u16,
    flows_accept: u64,
    flows_reject: u64,
    packets: u64,
    protocol: u8,
    src: String,
    syn: u64,
    window_end: String,
    window_start: String,
}

fn write_edges(out: &mut impl Write, edges: &[InternalEdge]) -> Result<()> {
    for e in edges {
        let line = EdgeLine {
            bytes: e.bytes,
            dst: e.dst.to_string(),
            dst_port: e.dst_port,
            flows_accept: e.flows_accept,
            flows_reject: e.flows_reject,
            packets: e.packets,
            protocol: e.protocol,
            src: e.src.to_string(),
            syn: e.syn,
            window_end: format_rfc3339(e.window_end),
            window_start: format_rfc3339(e.window_start),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
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
    fn objects_group_by_hour_with_the_next_groups_watermark() {
        let object = |stamp: &str| {
            let name = format!(
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/02/123456789012_vpcflowlogs_us-east-1_fl-0a_{stamp}_ab.log.gz"
            );
            ObjectRef::local(PathBuf::from(name), None)
        };
        let late = object("20261102T0135Z");
        let early = object("20261102T0055Z");
        let next = object("20261102T0130Z");
        let groups = groups(&[late.clone(), early.clone(), next.clone()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, vec![early]);
        let next_start = next.key.as_ref().unwrap().end_range().0;
        assert_eq!(groups[0].1, Some(next_start - 3600));
        assert_eq!(groups[1].0, vec![next, late.clone()]);
        assert_eq!(groups[1].1, None);
        // One name without a time: everything in one group, held to the end.
        let plain = ObjectRef::local(PathBuf::from("flows.log.gz"), None);
        let single = super::groups(&[late.clone(), plain.clone()]);
        assert_eq!(single, vec![(vec![late, plain], None)]);
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
        write_csv_header(&mut out).unwrap();
        write_csv_rows(&mut out, &[sample()]).unwrap();
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
        let mut sink = RowSink::new(File::create(&path).unwrap(), Format::Parquet).unwrap();
        sink.write(&[sample()]).unwrap();
        sink.write(&[sample()]).unwrap();
        sink.close().unwrap();
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
        // Values that are not what they claim are refused by the parser (exit 2).
        for bad in [&["--vpc-cidr", "10.0.0.0/99"][..], &["--window", "1.5s"], &["--horizon", "0s"]] {
            let mut argv = vec!["flowhound", "extract", "x", "--out", "o.csv"];
            argv.extend_from_slice(bad);
            let err = crate::cli::Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
    }
}

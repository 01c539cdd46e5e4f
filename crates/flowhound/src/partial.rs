//! Feature state as a file: the mergeable partial of `extract --state-out`, its merge
//! (`flowhound merge`), and its use by `extract`, `train`, `score` and `hunt --state`
//! instead of SOURCE, so one period can be read by many workers (docs/scale.md).
//!
//! A file is one header line, `{"format":"flowhound-feature-state","version":1,"bytes":N,
//! "sha256":"…"}`, then N bytes of zstd-compressed JSON: the feature configuration it was
//! made with (window, horizon, declared address blocks), the read totals, the partitions
//! it covers, and the open [`FeatureState`]. Loading checks the version, the size and the
//! sha256 before parsing, and refuses a state made with another configuration than the
//! command's. Partials over disjoint objects merge exactly (the feature crate's merge);
//! the same partition given twice is refused. States of separate SOURCEs (one day each,
//! say) merge too: that their objects are disjoint is then the caller's to ensure.
//!
//! `--partition K/N` splits the objects by hour: the hours of `[--from, --to)` (without a
//! range, the distinct hours of the objects' key times: the 5-minute bucket of the AWS file
//! name, else the key's hour or day) are cut into N runs of consecutive hours; partition K
//! reads the objects of the K-th run.
//! Contiguous time keeps each worker's state to its own hours (only windows and pair
//! horizons at the cut are shared, and merged exactly), where a split by key hash would
//! make every worker hold every window of the period. Objects whose name tells no time
//! go by a hash of the name. Every worker computes the same cut: from the range when there
//! is one, so objects arriving between two workers' listings cannot move it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use flowhound_features::{AddressBlocks, FEATURE_SCHEMA_VERSION, FeatureConfig, FeatureState, Features};
use flowhound_flowlog::{ObjectRef, Partial, ScanSummary};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::UsageError;

/// Format name in the header line.
const FORMAT: &str = "flowhound-feature-state";
/// Version of the file layout and of the meaning of its body; bump on any change.
pub const STATE_FILE_VERSION: u32 = 1;

/// The variable AWS Batch sets in each child of an array job: its index, from 0.
const ARRAY_INDEX_ENV: &str = "AWS_BATCH_JOB_ARRAY_INDEX";

/// `K/N`: the K-th of N partitions (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Partition {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Partition {
    type Err = String;

    /// `K/N`, or `array/N` for an AWS Batch array job: K is the job's
    /// `AWS_BATCH_JOB_ARRAY_INDEX` (0-based) plus one.
    fn from_str(text: &str) -> Result<Partition, String> {
        let bad = || format!("{text:?}: expected K/N with 1 <= K <= N (e.g. 3/8), or array/N");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let k: u32 = if k.trim() == "array" {
            let index = std::env::var(ARRAY_INDEX_ENV)
                .map_err(|_| format!("--partition array/N needs {ARRAY_INDEX_ENV} (set by AWS Batch array jobs)"))?;
            let index: u32 =
                index.trim().parse().map_err(|_| format!("{ARRAY_INDEX_ENV}={index:?} is not an index"))?;
            index.checked_add(1).ok_or_else(bad)?
        } else {
            k.trim().parse().map_err(|_| bad())?
        };
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The hour an object's name tells, if any.
fn object_hour(object: &ObjectRef) -> Option<u64> {
    let key = object.key.as_ref()?;
    if let Some(t) = key.file_time {
        return Some(t / 3600);
    }
    let days = flowhound_flowlog::time::days_from_civil(key.year, key.month, key.day);
    let days = u64::try_from(days).ok()?;
    Some(days * 24 + u64::from(key.hour.unwrap_or(0)))
}

/// FNV-1a of a name: a stable hash (the standard library's is randomised per process).
fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The objects of partition `p` (see the module documentation), in their listed order.
/// With a `[from, to)` range the hours cut are the range's, computed, not listed: workers
/// that list at different moments (objects still arriving) still cut at the same hours;
/// an object outside the range (its key's hour before `from`) goes to the nearest end.
pub fn select(objects: Vec<ObjectRef>, p: Partition, range: Option<(u64, u64)>) -> Vec<ObjectRef> {
    let hours: Vec<u64> = match range {
        Some((from, to)) => (from / 3600..to.div_ceil(3600)).collect(),
        None => objects.iter().filter_map(object_hour).collect::<BTreeSet<_>>().into_iter().collect(),
    };
    let clamp = |h: u64| match (hours.first(), hours.last()) {
        (Some(&lo), Some(&hi)) if range.is_some() => h.clamp(lo, hi),
        _ => h,
    };
    let (k, n) = (u64::from(p.k - 1), u64::from(p.n));
    let len = hours.len() as u64;
    let (lo, hi) = ((len * k).div_ceil(n), (len * (k + 1)).div_ceil(n));
    let (lo, hi) = (lo as usize, hi as usize);
    let mine: BTreeSet<u64> = hours[lo.min(hours.len())..hi.min(hours.len())].iter().copied().collect();
    objects
        .into_iter()
        .filter(|o| match object_hour(o) {
            Some(h) => mine.contains(&clamp(h)),
            None => name_hash(&o.name) % n == k,
        })
        .collect()
}

/// What was read into a state: the totals a command reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub objects: u64,
    pub records: u64,
    pub malformed: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
}

impl Totals {
    pub fn of(summary: &ScanSummary) -> Totals {
        Totals {
            objects: summary.objects,
            records: summary.records,
            malformed: summary.malformed,
            first_start: summary.first_start,
            last_end: summary.last_end,
        }
    }

    fn merge(&mut self, other: &Totals) {
        self.objects += other.objects;
        self.records += other.records;
        self.malformed += other.malformed;
        self.first_start = match (self.first_start, other.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_end = self.last_end.max(other.last_end);
    }

    /// The scan summary of these totals (the fields commands report).
    pub fn summary(&self) -> ScanSummary {
        ScanSummary {
            objects: self.objects,
            records: self.records,
            malformed: self.malformed,
            first_start: self.first_start,
            last_end: self.last_end,
            ..ScanSummary::default()
        }
    }
}

/// The feature configuration a state was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateConfig {
    pub feature_schema_version: u32,
    pub window_secs: u64,
    pub horizon_secs: u64,
    pub addresses: AddressBlocks,
}

impl StateConfig {
    pub fn of(cfg: &FeatureConfig) -> StateConfig {
        StateConfig {
            feature_schema_version: FEATURE_SCHEMA_VERSION,
            window_secs: cfg.window_secs(),
            horizon_secs: cfg.horizon_secs(),
            addresses: cfg.declared_blocks().clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    bytes: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    config: StateConfig,
    /// The partitions read into it (empty: all the objects of its SOURCE).
    partitions: Vec<Partition>,
    totals: Totals,
    state: FeatureState,
}

/// A loaded (or merged) state.
pub struct StateFile {
    pub config: StateConfig,
    pub partitions: Vec<Partition>,
    pub totals: Totals,
    pub state: FeatureState,
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl StateFile {
    /// The file's bytes: the header line, then the compressed body.
    fn into_bytes(mut self) -> Result<Vec<u8>> {
        self.state.settle();
        let body = Body { config: self.config, partitions: self.partitions, totals: self.totals, state: self.state };
        // zstd at level 1: 4-5 times faster than gzip's fastest level here, and smaller.
        let mut z = zstd::stream::write::Encoder::new(Vec::new(), 1).context("compressing the feature state")?;
        serde_json::to_writer(std::io::BufWriter::new(&mut z), &body).context("serialising the feature state")?;
        let compressed = z.finish().context("compressing the feature state")?;
        let header = Header {
            format: FORMAT.into(),
            version: STATE_FILE_VERSION,
            bytes: compressed.len() as u64,
            sha256: sha256_hex(&compressed),
        };
        let mut bytes = serde_json::to_vec(&header)?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&compressed);
        Ok(bytes)
    }

    /// Writes the state to a file (atomically: temporary name, fsync, rename) or to
    /// `s3://bucket/key` (one PutObject: at most 5 GB).
    pub fn write(self, location: &str) -> Result<()> {
        let bytes = self.into_bytes()?;
        if location.starts_with("s3://") {
            return crate::aws::S3Remote::connect()?.put_bytes(location, bytes);
        }
        let path = Path::new(location);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::extract::write_file_atomically(path, |w| Ok(w.write_all(&bytes)?))
    }

    /// Reads and verifies a state from a file or `s3://bucket/key`.
    pub fn read(location: &str) -> Result<StateFile> {
        let bytes = if location.starts_with("s3://") {
            crate::aws::S3Remote::connect()?.get_bytes(location, MAX_STATE_BYTES)?
        } else {
            std::fs::read(location).map_err(|e| UsageError(format!("{location}: {e}")))?
        };
        StateFile::parse(location, &bytes)
    }

    fn parse(location: &str, bytes: &[u8]) -> Result<StateFile> {
        let not_state = || UsageError(format!("{location}: not a flowhound feature state (extract --state-out)"));
        let line_end = bytes.iter().take(4096).position(|&b| b == b'\n').ok_or_else(not_state)?;
        let header: Header = serde_json::from_slice(&bytes[..line_end])
            .ok()
            .filter(|h: &Header| h.format == FORMAT)
            .ok_or_else(not_state)?;
        if header.version != STATE_FILE_VERSION {
            bail!(
                "{location}: feature state version {} (this build reads {STATE_FILE_VERSION}); extract it again",
                header.version
            );
        }
        let compressed = &bytes[line_end + 1..];
        if compressed.len() as u64 != header.bytes || sha256_hex(compressed) != header.sha256 {
            bail!("{location}: damaged feature state: its size or sha256 differs from its header");
        }
        let mut json = Vec::new();
        zstd::stream::read::Decoder::new(compressed)
            .and_then(|mut d| std::io::Read::read_to_end(&mut d, &mut json))
            .with_context(|| format!("{location}: damaged feature state"))?;
        let body: Body = serde_json::from_slice(&json).with_context(|| format!("{location}: invalid feature state"))?;
        drop(json);
        if body.config.feature_schema_version != FEATURE_SCHEMA_VERSION {
            bail!(
                "{location}: made with feature schema {} (this build computes {FEATURE_SCHEMA_VERSION}); extract it again",
                body.config.feature_schema_version
            );
        }
        let cfg =
            crate::train::feature_config(body.config.window_secs, body.config.horizon_secs, &body.config.addresses)?;
        let state = body.state.resume(Arc::new(cfg)).with_context(|| format!("{location}: feature state"))?;
        Ok(StateFile { config: body.config, partitions: body.partitions, totals: body.totals, state })
    }

    /// Reads and merges files made with one configuration over disjoint partitions.
    pub fn read_all(locations: &[String]) -> Result<StateFile> {
        let paths = expand(locations)?;
        let mut merged: Option<StateFile> = None;
        for path in &paths {
            let next = StateFile::read(path)?;
            tracing::info!(file = %path, records = next.totals.records, "feature state read");
            merged = Some(match merged {
                None => next,
                Some(mut acc) => {
                    if acc.config != next.config {
                        return Err(UsageError(format!(
                            "{path}: made with another window, horizon or address blocks than {}",
                            paths[0]
                        ))
                        .into());
                    }
                    // Partials of different cuts overlap in hours: never mixed.
                    if let (Some(a), Some(b)) = (acc.partitions.first(), next.partitions.first())
                        && a.n != b.n
                    {
                        return Err(UsageError(format!(
                            "{path}: partition {b} is of another cut than {a}: merge partials of one --partition K/N run"
                        ))
                        .into());
                    }
                    // The same partition twice (a file given twice, a worker re-run)
                    // would count its objects twice.
                    if let Some(p) = acc.partitions.iter().find(|p| next.partitions.contains(p)) {
                        return Err(UsageError(format!(
                            "{path}: partition {p} is already in the merge: states must cover disjoint objects"
                        ))
                        .into());
                    }
                    acc.state.merge(next.state);
                    acc.totals.merge(&next.totals);
                    acc.partitions.extend(next.partitions);
                    acc.partitions.sort();
                    acc
                }
            });
        }
        merged.ok_or_else(|| UsageError("no feature state given".into()).into())
    }

    /// Refuses a state made with another configuration than the command's, or one that
    /// holds only some partitions of its cut (`merge` accepts those, to merge in steps).
    pub fn check(&self, want: &StateConfig) -> Result<(), UsageError> {
        if let Some(first) = self.partitions.first() {
            let missing: Vec<String> = (1..=first.n)
                .map(|k| Partition { k, n: first.n })
                .filter(|p| !self.partitions.contains(p))
                .map(|p| p.to_string())
                .collect();
            if !missing.is_empty() {
                return Err(UsageError(format!(
                    "the feature states lack partitions {}: give every partition of the run",
                    missing.join(", ")
                )));
            }
        }
        let have = &self.config;
        if have.window_secs != want.window_secs || have.horizon_secs != want.horizon_secs {
            return Err(UsageError(format!(
                "the feature state was extracted with --window {}s --horizon {}s, this command computes {}s and {}s: give the same, or extract again",
                have.window_secs, have.horizon_secs, want.window_secs, want.horizon_secs
            )));
        }
        if have.addresses != want.addresses {
            return Err(UsageError(format!(
                "the feature state was extracted with address blocks {}, this command uses {}: give the same, or extract again",
                have.addresses, want.addresses
            )));
        }
        Ok(())
    }
}

/// Largest feature-state object read from S3.
const MAX_STATE_BYTES: u64 = 16 << 30;
/// The file name of a feature state.
const SUFFIX: &str = ".state";

/// Where `extract --state-out LOCATION` writes: LOCATION itself, or, when it ends with `/`
/// (a folder or an S3 prefix), `part-KKKK-of-NNNN.state` (or `features.state`) in it.
pub fn output_location(location: &str, partition: Option<Partition>) -> String {
    if !location.ends_with('/') {
        return location.to_owned();
    }
    match partition {
        Some(p) => format!("{location}part-{:04}-of-{:04}{SUFFIX}", p.k, p.n),
        None => format!("{location}features{SUFFIX}"),
    }
}

/// The state files named by `locations`: files and `s3://` objects as given, and for a
/// location ending with `/` every `*.state` below it, in name order.
fn expand(locations: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for location in locations {
        if !location.ends_with('/') {
            out.push(location.clone());
            continue;
        }
        let found: Vec<String> = if location.starts_with("s3://") {
            crate::aws::S3Remote::connect()?.list_keys(location, SUFFIX)?
        } else {
            let dir = std::fs::read_dir(location).map_err(|e| UsageError(format!("{location}: {e}")))?;
            let mut names: Vec<String> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.to_string_lossy().ends_with(SUFFIX))
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        if found.is_empty() {
            return Err(UsageError(format!("{location}: no *{SUFFIX} file below it")).into());
        }
        out.extend(found);
    }
    Ok(out)
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Feature states written by `extract --state-out` (or by merge), from disjoint
    /// partitions: files, s3://bucket/key, or a folder or S3 prefix ending with `/` (every
    /// *.state below it).
    #[arg(value_name = "STATE", required = true)]
    pub states: Vec<String>,
    /// The merged feature state: a file or s3://bucket/key.
    #[arg(long, value_name = "STATE")]
    pub state_out: String,
}

/// `flowhound merge`.
pub fn run_merge(args: &MergeArgs) -> Result<ExitCode> {
    let merged = StateFile::read_all(&args.states)?;
    let (records, partitions) = (merged.totals.records, merged.partitions.len());
    merged.write(&args.state_out)?;
    tracing::info!(records, partitions, out = %args.state_out, "feature states merged");
    Ok(ExitCode::SUCCESS)
}

/// The features of merged feature states made with `cfg`'s configuration: the state
/// finished at once, pairs in the order `read_features` gives them, so they equal what
/// reading the states' objects here would give. Shared by `extract --state` and the
/// model commands.
pub fn features(states: &[String], cfg: &FeatureConfig) -> Result<(Features, Totals)> {
    let merged = StateFile::read_all(states)?;
    merged.check(&StateConfig::of(cfg))?;
    let mut features = merged.state.finish();
    features.pairs.sort_by_key(|p| (p.host, p.peer, p.port, p.protocol, p.horizon_start));
    tracing::info!(
        states = states.len(),
        records = merged.totals.records,
        rows = features.rows.len(),
        pairs = features.pairs.len(),
        edges = features.edges.len(),
        "features from feature states"
    );
    Ok((features, merged.totals))
}

/// Reads a plan's objects into one state, without draining (a partial must keep every
/// window open for the merge); checks damage like every reader.
pub fn read_state(
    plan: &crate::sources::Plan,
    cfg: &Arc<FeatureConfig>,
    skip_corrupt: bool,
) -> Result<(FeatureState, ScanSummary)> {
    let (reports, state): (_, FeatureState) = crate::sources::read_all(plan, || FeatureState::new(cfg.clone()));
    let summary = ScanSummary::from_reports(&reports, plan.pruned, 10);
    crate::sources::check_damage(&summary, skip_corrupt)?;
    Ok((state, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str) -> ObjectRef {
        ObjectRef::local(std::path::PathBuf::from(name), None)
    }

    #[test]
    fn partitions_parse() {
        assert_eq!("2/5".parse::<Partition>().unwrap(), Partition { k: 2, n: 5 });
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn partitions_cover_every_object_once_in_runs_of_hours() {
        let mut objects = Vec::new();
        for day in 1..=3 {
            for hour in 0..24 {
                for minute in [0, 5, 55] {
                    objects.push(object(&format!(
                        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/{day:02}/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_202611{day:02}T{hour:02}{minute:02}Z_abcdef01.log.gz"
                    )));
                }
            }
        }
        objects.push(object("/data/untimed-a.log"));
        objects.push(object("/data/untimed-b.log"));
        for n in [1, 2, 5, 7] {
            let mut seen = Vec::new();
            let mut last_hour = None;
            for k in 1..=n {
                let part = select(objects.clone(), Partition { k, n }, None);
                let hours: Vec<u64> = part.iter().filter_map(object_hour).collect();
                if let (Some(prev), Some(first)) = (last_hour, hours.iter().min()) {
                    assert!(*first > prev, "partition {k}/{n} starts after the previous one ends");
                }
                if let Some(max) = hours.iter().max() {
                    let min = hours.iter().min().unwrap();
                    let distinct: BTreeSet<_> = hours.iter().collect();
                    assert_eq!(distinct.len() as u64, max - min + 1, "consecutive hours");
                    assert!(distinct.len() >= 72 / n as usize, "{k}/{n}: {} hours", distinct.len());
                    last_hour = Some(*max);
                }
                seen.extend(part.into_iter().map(|o| o.name));
            }
            seen.sort();
            let mut all: Vec<String> = objects.iter().map(|o| o.name.clone()).collect();
            all.sort();
            assert_eq!(seen, all, "n = {n}");
        }
        // A range cuts its own hours: objects listed later (or missing) do not move the cut,
        // and objects outside the range go to the ends.
        let day1 = 1_793_491_200; // 2026-11-01T00:00:00Z
        let range = Some((day1 + 86_400, day1 + 2 * 86_400));
        let mut seen = 0;
        for k in 1..=4 {
            let part = select(objects.clone(), Partition { k, n: 4 }, range);
            let fewer: Vec<ObjectRef> = objects.iter().step_by(2).cloned().collect();
            let part_of_fewer = select(fewer.clone(), Partition { k, n: 4 }, range);
            for o in &part_of_fewer {
                assert!(part.iter().any(|p| p.name == o.name), "the cut does not depend on the listing");
            }
            let hours: BTreeSet<u64> = part.iter().filter_map(object_hour).collect();
            let inside: Vec<u64> =
                hours.iter().copied().filter(|h| (day1 / 3600 + 24..day1 / 3600 + 48).contains(h)).collect();
            assert_eq!(inside.len(), 6, "{k}/4 holds 6 of the range's 24 hours");
            seen += part.len();
        }
        assert_eq!(seen, objects.len());
    }
}

//! The model directory of CONTRACT §7: `manifest.json` plus payload files. [`save`] and [`load`]
//! write and verify the directory of a [`Baseline`]; [`ModelWriter`] and [`ModelDir`] do the
//! format-level work for them.
//!
//! Writing is reproducible: payloads and manifest are canonical JSON (object keys sorted at every
//! depth, floats in serde_json's shortest round-trip form, a trailing newline), and nothing
//! depends on the wall clock, so identical input and params give byte-identical directories.
//!
//! Loading refuses, with a specific [`ArtifactError`], a manifest of another schema version, a
//! feature schema other than the one the scorer extracts, a payload whose sha256 or size differs
//! from the manifest, a missing payload, and an edited manifest. The model `id` is `fh-` and the
//! first 16 hex digits of the sha256 of the manifest's own canonical bytes with the id blanked.
//! The manifest holds every payload's sha256, so the id follows from the payloads, parameters and
//! training range, and an edit anywhere shows. These checks catch corruption, partial copies and
//! hand edits; they are not a signature, since anyone who can write the directory can also
//! recompute the hashes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use flowhound_features::{AddressBlocks, FEATURE_SCHEMA_VERSION, feature_names};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::baseline::Baseline;

/// Version of the model directory: the manifest layout and the meaning of the payload. Bump it
/// whenever either changes; older models are then refused and must be retrained.
pub const MODEL_SCHEMA_VERSION: u32 = 4;
/// Name of the manifest file inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The payload file of a [`Baseline`].
pub const BASELINE_FILE: &str = "baseline.json";

/// Errors from writing or loading a model directory.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No manifest in the directory.
    #[error("{0} has no manifest.json: not a flowhound model directory")]
    MissingManifest(PathBuf),
    /// The manifest is not valid JSON of the expected shape.
    #[error("{path}: invalid manifest: {source}")]
    InvalidManifest {
        /// Manifest path.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The manifest was written by an incompatible version.
    #[error("model schema version {found} is not supported (this build reads version {supported}); retrain the model")]
    UnsupportedSchemaVersion {
        /// Version in the manifest.
        found: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// The manifest's content does not hash to its id.
    #[error("manifest was modified after it was written: id {recorded} but content hashes to {computed}")]
    ManifestTampered {
        /// Id recorded in the manifest.
        recorded: String,
        /// Id the content hashes to.
        computed: String,
    },
    /// The model was trained on other features than the scorer extracts.
    #[error(
        "feature schema mismatch: the model was trained on feature schema version {} ({} columns), this build \
         computes version {} ({} columns){}; retrain the model",
        found.version, found.names.len(), expected.version, expected.names.len(), first_difference(found, expected)
    )]
    FeatureSchemaMismatch {
        /// What the scorer extracts.
        expected: FeatureSchema,
        /// What the model was trained on.
        found: FeatureSchema,
    },
    /// A payload listed in the manifest is absent.
    #[error("payload {0} listed in the manifest is missing")]
    MissingPayload(String),
    /// A payload's checksum differs from the manifest.
    #[error(
        "checksum mismatch for payload {file}: it hashes to sha256 {actual}, the manifest says {expected} \
         (the model was modified or damaged)"
    )]
    ChecksumMismatch {
        /// Payload name.
        file: String,
        /// Checksum in the manifest.
        expected: String,
        /// Checksum of the file on disk.
        actual: String,
    },
    /// A payload name that is not a plain file name (path separators, `..`, the manifest's name).
    #[error("invalid payload file name {0:?}: use letters, digits, '.', '_' or '-' and no leading '.'")]
    InvalidFileName(String),
    /// The same payload added twice.
    #[error("payload {0} added twice")]
    DuplicatePayload(String),
    /// Reading a payload the manifest does not list.
    #[error("payload {0} is not listed in the manifest")]
    NotInManifest(String),
    /// Serialising a payload or the manifest failed.
    #[error("serialising {what}: {source}")]
    Serialize {
        /// What was being serialised.
        what: String,
        /// The error.
        source: serde_json::Error,
    },
    /// A payload is not valid JSON of the requested type.
    #[error("payload {file}: {source}")]
    InvalidPayload {
        /// Payload name.
        file: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The payload disagrees with its manifest (written by something other than [`save`]).
    #[error("payload {file} disagrees with the manifest: {what}")]
    Inconsistent {
        /// Payload name.
        file: String,
        /// What differs.
        what: String,
    },
}

/// `, first difference at column i: "a" vs "b"` for the feature schema error.
fn first_difference(found: &FeatureSchema, expected: &FeatureSchema) -> String {
    let n = found.names.len().max(expected.names.len());
    for i in 0..n {
        let (a, b) = (found.names.get(i), expected.names.get(i));
        if a != b {
            let show = |x: Option<&String>| x.map_or_else(|| "(none)".to_string(), |s| format!("{s:?}"));
            return format!(", first difference at column {i}: model {} vs build {}", show(a), show(b));
        }
    }
    String::new()
}

/// Names and version of the feature columns a model was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// Version of the feature definitions (bumped by the features crate on semantic changes).
    pub version: u32,
    /// Column names, in order.
    pub names: Vec<String>,
}

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// First record time (Unix seconds, inclusive).
    pub start_unix: i64,
    /// Last record time (Unix seconds, exclusive).
    pub end_unix: i64,
    /// Counts by name (records, hosts, windows, peer groups, …).
    pub counts: BTreeMap<String, u64>,
}

/// Size, checksum and format of one payload file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadEntry {
    /// Lower-case hex sha256 of the file's bytes.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: u64,
    /// How to read it, e.g. `json`.
    pub format: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest schema version ([`MODEL_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Content address: `fh-` and 16 hex digits of the sha256 of the canonical manifest with
    /// this field empty.
    pub id: String,
    /// Writer, e.g. `flowhound-model 0.1.0`.
    pub generator: String,
    /// Feature columns the model expects.
    pub feature_schema: FeatureSchema,
    /// Training range and counts.
    pub training: TrainingInfo,
    /// Every estimator's parameters, by name.
    pub parameters: BTreeMap<String, Value>,
    /// Every seed, by name.
    pub seeds: BTreeMap<String, u64>,
    /// Payload files, by name.
    pub files: BTreeMap<String, PayloadEntry>,
}

/// Canonical JSON: sorted keys at every depth (independent of serde_json's `preserve_order`
/// feature, which another crate in the build could switch on), compact or two-space pretty.
pub fn to_canonical_json<T: Serialize>(value: &T, pretty: bool) -> Result<String, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    let mut out = String::new();
    write_canonical(&v, pretty, 0, &mut out)?;
    out.push('\n');
    Ok(out)
}

fn write_canonical(v: &Value, pretty: bool, depth: usize, out: &mut String) -> Result<(), serde_json::Error> {
    let newline = |out: &mut String, depth: usize| {
        if pretty {
            out.push('\n');
            out.push_str(&"  ".repeat(depth));
        }
    };
    match v {
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&serde_json::to_string(k)?);
                out.push_str(if pretty { ": " } else { ":" });
                write_canonical(&map[k], pretty, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            // Arrays of scalars stay on one line even when pretty: node tables would otherwise
            // become hundreds of thousands of lines.
            let scalars = items.iter().all(|i| !i.is_object() && !i.is_array());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if pretty && scalars {
                        out.push(' ');
                    }
                }
                if !scalars {
                    newline(out, depth + 1);
                }
                write_canonical(item, pretty, depth + 1, out)?;
            }
            if !scalars {
                newline(out, depth);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar)?),
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn check_file_name(name: &str) -> Result<(), ArtifactError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name != MANIFEST_FILE
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(ArtifactError::InvalidFileName(name.to_owned())) }
}

/// The line the canonical pretty writer emits for the top-level id; hashing replaces it with the
/// blank form, so verification works on the exact bytes on disk without re-serialising.
fn id_line(id: &str) -> String {
    format!("\n  \"id\": {},\n", Value::String(id.to_owned()))
}

fn manifest_id(canonical_with_blank_id: &str) -> String {
    format!("fh-{}", &sha256_hex(canonical_with_blank_id.as_bytes())[..16])
}

/// Builds a model directory in memory and writes it.
#[derive(Debug, Clone)]
pub struct ModelWriter {
    feature_schema: FeatureSchema,
    training: TrainingInfo,
    parameters: BTreeMap<String, Value>,
    seeds: BTreeMap<String, u64>,
    payloads: BTreeMap<String, (Vec<u8>, String)>,
}

impl ModelWriter {
    /// Start a model over `feature_schema`, trained on `training`.
    pub fn new(feature_schema: FeatureSchema, training: TrainingInfo) -> Self {
        Self {
            feature_schema,
            training,
            parameters: BTreeMap::new(),
            seeds: BTreeMap::new(),
            payloads: BTreeMap::new(),
        }
    }

    /// Record an estimator's parameters under `name`.
    pub fn parameters<T: Serialize>(&mut self, name: &str, params: &T) -> Result<&mut Self, ArtifactError> {
        let v = serde_json::to_value(params)
            .map_err(|source| ArtifactError::Serialize { what: format!("parameters {name}"), source })?;
        self.parameters.insert(name.to_owned(), v);
        Ok(self)
    }

    /// Record a seed under `name`.
    pub fn seed(&mut self, name: &str, seed: u64) -> &mut Self {
        self.seeds.insert(name.to_owned(), seed);
        self
    }

    /// Add a payload as canonical compact JSON.
    pub fn add_json<T: Serialize>(&mut self, file: &str, value: &T) -> Result<&mut Self, ArtifactError> {
        let text = to_canonical_json(value, false)
            .map_err(|source| ArtifactError::Serialize { what: file.to_owned(), source })?;
        self.add_bytes(file, text.into_bytes(), "json")
    }

    /// Add a payload of raw bytes in `format` (e.g. a Parquet table, `parquet`).
    pub fn add_bytes(&mut self, file: &str, bytes: Vec<u8>, format: &str) -> Result<&mut Self, ArtifactError> {
        check_file_name(file)?;
        if self.payloads.contains_key(file) {
            return Err(ArtifactError::DuplicatePayload(file.to_owned()));
        }
        self.payloads.insert(file.to_owned(), (bytes, format.to_owned()));
        Ok(self)
    }

    /// The manifest and its canonical bytes.
    pub fn manifest(&self) -> Result<(Manifest, String), ArtifactError> {
        let files = self
            .payloads
            .iter()
            .map(|(name, (bytes, format))| {
                let entry =
                    PayloadEntry { sha256: sha256_hex(bytes), bytes: bytes.len() as u64, format: format.clone() };
                (name.clone(), entry)
            })
            .collect();
        let mut manifest = Manifest {
            schema_version: MODEL_SCHEMA_VERSION,
            id: String::new(),
            generator: format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
            feature_schema: self.feature_schema.clone(),
            training: self.training.clone(),
            parameters: self.parameters.clone(),
            seeds: self.seeds.clone(),
            files,
        };
        let ser = |m: &Manifest| {
            to_canonical_json(m, true).map_err(|source| ArtifactError::Serialize { what: MANIFEST_FILE.into(), source })
        };
        manifest.id = manifest_id(&ser(&manifest)?);
        let text = ser(&manifest)?;
        Ok((manifest, text))
    }

    /// Write payloads, then the manifest (so a crash mid-write leaves no manifest that vouches
    /// for missing files). Each file is written to a temporary name and renamed into place.
    pub fn write(&self, dir: &Path) -> Result<Manifest, ArtifactError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArtifactError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let (manifest, text) = self.manifest()?;
        let files = self.payloads.iter().map(|(n, (b, _))| (n.as_str(), b.as_slice()));
        for (name, bytes) in files.chain(std::iter::once((MANIFEST_FILE, text.as_bytes()))) {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            fs::write(&tmp, bytes).map_err(io(&tmp))?;
            fs::rename(&tmp, &path).map_err(io(&path))?;
        }
        Ok(manifest)
    }
}

/// A verified model directory.
#[derive(Debug, Clone)]
pub struct ModelDir {
    dir: PathBuf,
    manifest: Manifest,
}

#[derive(Deserialize)]
struct VersionProbe {
    schema_version: u32,
}

impl ModelDir {
    /// Open and verify `dir`: schema version, manifest integrity, feature schema, every payload's
    /// size and checksum.
    pub fn open(dir: &Path, expected: &FeatureSchema) -> Result<Self, ArtifactError> {
        let path = dir.join(MANIFEST_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::MissingManifest(dir.into()));
            }
            Err(source) => return Err(ArtifactError::Io { path, source }),
        };
        let invalid = |source| ArtifactError::InvalidManifest { path: path.clone(), source };
        // Version first, through a minimal probe, so a future layout reports its version rather
        // than a confusing parse error.
        let probe: VersionProbe = serde_json::from_str(&text).map_err(invalid)?;
        if probe.schema_version != MODEL_SCHEMA_VERSION {
            return Err(ArtifactError::UnsupportedSchemaVersion {
                found: probe.schema_version,
                supported: MODEL_SCHEMA_VERSION,
            });
        }
        let manifest: Manifest = serde_json::from_str(&text).map_err(invalid)?;
        let line = id_line(&manifest.id);
        let computed = if text.matches(&line).count() == 1 {
            manifest_id(&text.replacen(&line, &id_line(""), 1))
        } else {
            String::from("<manifest not in canonical form>")
        };
        if computed != manifest.id {
            return Err(ArtifactError::ManifestTampered { recorded: manifest.id, computed });
        }
        if &manifest.feature_schema != expected {
            return Err(ArtifactError::FeatureSchemaMismatch {
                expected: expected.clone(),
                found: manifest.feature_schema,
            });
        }
        let model = Self { dir: dir.to_path_buf(), manifest };
        for name in model.manifest.files.keys() {
            model.read_bytes(name)?;
        }
        Ok(model)
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Directory path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Read a listed payload, verifying it again (it may have changed since `open`).
    pub fn read_bytes(&self, file: &str) -> Result<Vec<u8>, ArtifactError> {
        check_file_name(file)?;
        let entry = self.manifest.files.get(file).ok_or_else(|| ArtifactError::NotInManifest(file.to_owned()))?;
        let path = self.dir.join(file);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::MissingPayload(file.into()));
            }
            Err(source) => return Err(ArtifactError::Io { path, source }),
        };
        let actual = sha256_hex(&bytes);
        if actual != entry.sha256 || bytes.len() as u64 != entry.bytes {
            return Err(ArtifactError::ChecksumMismatch {
                file: file.to_owned(),
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Read and deserialise a listed JSON payload.
    pub fn read_json<T: DeserializeOwned>(&self, file: &str) -> Result<T, ArtifactError> {
        let bytes = self.read_bytes(file)?;
        serde_json::from_slice(&bytes).map_err(|source| ArtifactError::InvalidPayload { file: file.to_owned(), source })
    }
}

/// The feature schema this build extracts: what a model must have been trained on.
pub fn current_feature_schema() -> FeatureSchema {
    FeatureSchema { version: FEATURE_SCHEMA_VERSION, names: feature_names().iter().map(|s| s.to_string()).collect() }
}

/// What the scorer must compute features with, shown in the manifest; the baseline payload
/// holds the same values.
#[derive(Serialize)]
struct FeatureParams<'a> {
    window_secs: u64,
    #[serde(flatten)]
    addresses: &'a AddressBlocks,
}

/// Writes `baseline` as a model directory ([`BASELINE_FILE`] plus the manifest); returns the
/// manifest.
pub fn save(baseline: &Baseline, dir: &Path) -> Result<Manifest, ArtifactError> {
    let t = &baseline.train;
    let mut counts = BTreeMap::new();
    for (name, n) in [
        ("hosts", t.hosts as u64),
        ("windows", t.windows as u64),
        ("pair_series", t.pairs as u64),
        ("edges", t.edges as u64),
        ("days", t.days),
        ("window_secs", t.window_secs),
        ("aggregation_secs", t.aggregation_secs),
        ("peer_groups", baseline.groups.k() as u64),
    ] {
        counts.insert(name.to_string(), n);
    }
    let training = TrainingInfo {
        start_unix: i64::try_from(t.start).unwrap_or(i64::MAX),
        end_unix: i64::try_from(t.end).unwrap_or(i64::MAX),
        counts,
    };
    let schema =
        FeatureSchema { version: baseline.feature_schema_version, names: baseline.forest.feature_names.clone() };
    let mut writer = ModelWriter::new(schema, training);
    writer
        .parameters("baseline", &baseline.params)?
        .parameters("seasonal_volume", &baseline.params.volume_params())?
        .parameters("detect", &baseline.detect)?
        .parameters("features", &FeatureParams { window_secs: t.window_secs, addresses: &t.addresses })?;
    writer
        .seed("peer_groups", baseline.groups.fitted_params().seed())
        .seed("isolation_forest", baseline.forest.forest.fitted_params().seed());
    writer.add_json(BASELINE_FILE, baseline)?;
    writer.write(dir)
}

/// Opens and verifies a model directory against this build's feature schema, then reads its
/// baseline.
pub fn load(dir: &Path) -> Result<(Manifest, Baseline), ArtifactError> {
    let model = ModelDir::open(dir, &current_feature_schema())?;
    let baseline: Baseline = model.read_json(BASELINE_FILE)?;
    let manifest = model.manifest;
    let inconsistent = |what: String| ArtifactError::Inconsistent { file: BASELINE_FILE.into(), what };
    if baseline.schema_version != manifest.schema_version {
        return Err(inconsistent(format!(
            "schema version {} vs {} in the manifest",
            baseline.schema_version, manifest.schema_version
        )));
    }
    if baseline.feature_schema_version != manifest.feature_schema.version
        || baseline.forest.feature_names != manifest.feature_schema.names
    {
        return Err(inconsistent("its feature columns differ from the manifest's feature schema".into()));
    }
    Ok((manifest, baseline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iforest::IsolationForest;
    use linfa::traits::Fit;
    use linfa::{DatasetBase, ParamGuard};
    use ndarray::Array2;

    fn schema() -> FeatureSchema {
        FeatureSchema { version: 1, names: vec!["a".into(), "b".into()] }
    }

    fn writer() -> (ModelWriter, IsolationForest) {
        let x = Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 13) % 17) as f64 * 0.37);
        let params = IsolationForest::params().n_trees(8).seed(3);
        let model = params.clone().check().unwrap().fit(&DatasetBase::from(x)).unwrap();
        let training = TrainingInfo {
            start_unix: 1_700_000_000,
            end_unix: 1_700_604_800,
            counts: [("hosts".to_string(), 2), ("windows".to_string(), 64)].into(),
        };
        let mut w = ModelWriter::new(schema(), training);
        w.parameters("iforest", &params).unwrap().seed("iforest", 3);
        w.add_json("iforest.json", &model).unwrap();
        w.add_bytes("notes.txt", b"thresholds are per detector\n".to_vec(), "text").unwrap();
        (w, model)
    }

    fn written() -> (tempfile::TempDir, IsolationForest) {
        let dir = tempfile::tempdir().unwrap();
        let (w, model) = writer();
        w.write(dir.path()).unwrap();
        (dir, model)
    }

    #[test]
    fn round_trip() {
        let (dir, model) = written();
        let m = ModelDir::open(dir.path(), &schema()).unwrap();
        assert_eq!(m.manifest().schema_version, MODEL_SCHEMA_VERSION);
        assert_eq!(m.manifest().seeds["iforest"], 3);
        assert_eq!(m.manifest().parameters["iforest"]["n_trees"], 8);
        assert_eq!(m.manifest().training.counts["windows"], 64);
        assert!(m.manifest().id.starts_with("fh-") && m.manifest().id.len() == 19, "{}", m.manifest().id);
        assert_eq!(m.manifest().files["notes.txt"].format, "text");
        let back: IsolationForest = m.read_json("iforest.json").unwrap();
        assert_eq!(back, model);
        assert_eq!(m.read_bytes("notes.txt").unwrap(), b"thresholds are per detector\n");
        assert!(matches!(m.read_bytes("other.json"), Err(ArtifactError::NotInManifest(_))));
    }

    #[test]
    fn byte_identical_output() {
        let (a, _) = written();
        let (b, _) = written();
        for name in [MANIFEST_FILE, "iforest.json", "notes.txt"] {
            assert_eq!(fs::read(a.path().join(name)).unwrap(), fs::read(b.path().join(name)).unwrap(), "{name}");
        }
        // No temporaries left behind.
        assert_eq!(fs::read_dir(a.path()).unwrap().count(), 3);
    }

    #[test]
    fn canonical_json_sorts_keys_and_is_stable() {
        let v = serde_json::json!({"b": [1, 2.5, {"z": 1, "a": null}], "a": {"y": true, "x": "s"}});
        assert_eq!(
            to_canonical_json(&v, false).unwrap(),
            "{\"a\":{\"x\":\"s\",\"y\":true},\"b\":[1,2.5,{\"a\":null,\"z\":1}]}\n"
        );
        assert_eq!(
            to_canonical_json(&serde_json::json!({"k": [0.1, 3], "e": {}}), true).unwrap(),
            "{\n  \"e\": {},\n  \"k\": [0.1, 3]\n}\n"
        );
    }

    #[test]
    fn detects_edited_payload() {
        let (dir, _) = written();
        let p = dir.path().join("iforest.json");
        let text = fs::read_to_string(&p).unwrap().replacen("\"n_features\":2", "\"n_features\":3", 1);
        fs::write(&p, text).unwrap();
        let err = ModelDir::open(dir.path(), &schema()).unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { ref file, .. } if file == "iforest.json"), "{err}");
    }

    #[test]
    fn detects_edited_manifest() {
        let (dir, _) = written();
        let p = dir.path().join(MANIFEST_FILE);
        let text = fs::read_to_string(&p).unwrap();
        let edited = text.replacen("\"n_trees\": 8", "\"n_trees\": 9", 1);
        assert_ne!(edited, text);
        fs::write(&p, edited).unwrap();
        let err = ModelDir::open(dir.path(), &schema()).unwrap_err();
        assert!(matches!(err, ArtifactError::ManifestTampered { .. }), "{err}");
    }

    #[test]
    fn detects_missing_payload_and_manifest() {
        let (dir, _) = written();
        fs::remove_file(dir.path().join("notes.txt")).unwrap();
        let err = ModelDir::open(dir.path(), &schema()).unwrap_err();
        assert!(matches!(err, ArtifactError::MissingPayload(ref f) if f == "notes.txt"), "{err}");
        fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(matches!(ModelDir::open(dir.path(), &schema()), Err(ArtifactError::MissingManifest(_))));
    }

    #[test]
    fn refuses_other_schema_version() {
        let (dir, _) = written();
        let p = dir.path().join(MANIFEST_FILE);
        let current = format!("\"schema_version\": {MODEL_SCHEMA_VERSION}");
        let text = fs::read_to_string(&p).unwrap().replacen(&current, "\"schema_version\": 99", 1);
        fs::write(&p, text).unwrap();
        let err = ModelDir::open(dir.path(), &schema()).unwrap_err();
        assert!(
            matches!(err, ArtifactError::UnsupportedSchemaVersion { found: 99, supported: MODEL_SCHEMA_VERSION }),
            "{err}"
        );
    }

    #[test]
    fn refuses_other_feature_schema() {
        let (dir, _) = written();
        let renamed = FeatureSchema { version: 1, names: vec!["a".into(), "c".into()] };
        let err = ModelDir::open(dir.path(), &renamed).unwrap_err();
        assert!(matches!(err, ArtifactError::FeatureSchemaMismatch { .. }), "{err}");
        let bumped = FeatureSchema { version: 2, ..schema() };
        assert!(matches!(ModelDir::open(dir.path(), &bumped), Err(ArtifactError::FeatureSchemaMismatch { .. })));
    }

    #[test]
    fn refuses_garbage_manifest() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), "{not json").unwrap();
        assert!(matches!(ModelDir::open(dir.path(), &schema()), Err(ArtifactError::InvalidManifest { .. })));
    }

    fn reference() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/reference")
    }

    fn saved_reference() -> (tempfile::TempDir, Baseline) {
        let (_, baseline) = load(&reference()).expect("models/reference must load (see models/README.md)");
        let dir = tempfile::tempdir().unwrap();
        save(&baseline, dir.path()).unwrap();
        (dir, baseline)
    }

    #[test]
    fn reference_model_loads_and_saves_to_the_same_bytes() {
        let (manifest, baseline) = load(&reference()).unwrap();
        assert!(manifest.id.starts_with("fh-"));
        assert_eq!(manifest.training.counts["hosts"], baseline.train.hosts as u64);
        assert!(baseline.train.hosts >= 12);
        assert!(!baseline.histories.hosts.is_empty());
        assert_eq!(manifest.files[BASELINE_FILE].format, "json");
        assert_eq!(manifest.seeds["isolation_forest"], baseline.forest.forest.fitted_params().seed());
        let (dir, _) = saved_reference();
        for name in [MANIFEST_FILE, BASELINE_FILE] {
            assert!(
                fs::read(dir.path().join(name)).unwrap() == fs::read(reference().join(name)).unwrap(),
                "saving the loaded reference model must reproduce {name} byte for byte"
            );
        }
        let (again_manifest, again) = load(dir.path()).unwrap();
        assert_eq!((again_manifest.id, again), (manifest.id, baseline));
    }

    #[test]
    fn refuses_a_tampered_baseline() {
        let (dir, _) = saved_reference();
        let payload = dir.path().join(BASELINE_FILE);
        let mut bytes = fs::read(&payload).unwrap();
        let at = bytes.iter().rposition(|b| b.is_ascii_digit()).unwrap();
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        fs::write(&payload, &bytes).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { ref file, .. } if file == BASELINE_FILE), "{err}");
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn refuses_a_baseline_of_another_schema_version() {
        let (dir, _) = saved_reference();
        let p = dir.path().join(MANIFEST_FILE);
        let current = format!("\"schema_version\": {MODEL_SCHEMA_VERSION}");
        let text = fs::read_to_string(&p).unwrap().replacen(&current, "\"schema_version\": 1", 1);
        fs::write(&p, text).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, ArtifactError::UnsupportedSchemaVersion { found: 1, .. }), "{err}");
        assert!(err.to_string().contains("retrain"), "{err}");

        // A payload claiming another version under a current manifest is refused as well.
        let (_, mut baseline) = load(&reference()).unwrap();
        baseline.schema_version = MODEL_SCHEMA_VERSION + 1;
        let dir = tempfile::tempdir().unwrap();
        save(&baseline, dir.path()).unwrap();
        assert!(matches!(load(dir.path()), Err(ArtifactError::Inconsistent { .. })));
    }

    #[test]
    fn refuses_a_baseline_trained_on_other_features() {
        let (_, mut baseline) = load(&reference()).unwrap();
        baseline.forest.feature_names[1] = "renamed_feature".into();
        let dir = tempfile::tempdir().unwrap();
        save(&baseline, dir.path()).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, ArtifactError::FeatureSchemaMismatch { .. }), "{err}");
        assert!(err.to_string().contains("first difference at column 1"), "{err}");

        let (_, mut baseline) = load(&reference()).unwrap();
        baseline.feature_schema_version += 1;
        save(&baseline, dir.path()).unwrap();
        assert!(matches!(load(dir.path()), Err(ArtifactError::FeatureSchemaMismatch { .. })));
    }

    #[test]
    fn rejects_unsafe_and_duplicate_names() {
        let (mut w, _) = writer();
        for bad in ["../x", "a/b", ".hidden", "", MANIFEST_FILE, "é.json"] {
            assert!(matches!(w.add_bytes(bad, vec![], "text"), Err(ArtifactError::InvalidFileName(_))), "{bad}");
        }
        assert!(matches!(w.add_bytes("notes.txt", vec![], "text"), Err(ArtifactError::DuplicatePayload(_))));
    }
}

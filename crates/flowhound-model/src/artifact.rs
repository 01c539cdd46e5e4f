//! The model directory of models/README.md. A model is a version directory, `manifest.json` plus
//! payload files, named by its id; a model directory holds versions and `CURRENT`, naming
//! the one in use ([`ModelWriter::write`] says how writing stays atomic). A directory with a
//! manifest directly inside is a single version and is read as one. [`save`] and [`load`]
//! write and verify the model of a [`Baseline`]; [`ModelWriter`] and [`ModelDir`] do the
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
    /// `CURRENT` does not name a version.
    #[error("{path}: not a model id: {content:?}")]
    BadPointer {
        /// The pointer file.
        path: PathBuf,
        /// What it holds (at most 64 characters).
        content: String,
    },
    /// A version directory named by one id holds the manifest of another (a copy or a
    /// pointer that would silently load a different model than it names).
    #[error("version directory {dir} holds model {id}")]
    MisplacedVersion {
        /// The directory's name.
        dir: String,
        /// The manifest's id.
        id: String,
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
fn to_canonical_json<T: Serialize>(value: &T, pretty: bool) -> Result<String, serde_json::Error> {
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

    /// Commits the model into the model directory `dir` as a new version and makes it the
    /// current one; returns its manifest.
    ///
    /// The version is written whole under a temporary name in `dir`, every file fsynced,
    /// and renamed to `dir/<id>/`; then `dir/CURRENT` is replaced (temporary file, fsync,
    /// rename) to name it. Each step is atomic, so a crash or `kill -9` at any point leaves
    /// `CURRENT` naming either the old version or the new one, each complete. Writers of
    /// the same directory take turns on `dir/.lock` (an advisory lock the OS releases when
    /// a writer dies), so two trainers never interleave; the later one wins. A version dir
    /// is immutable: its name is its content's id. The newest [`KEPT_VERSIONS`] versions
    /// stay for rollback (point `CURRENT` at one); older ones, temporaries of crashed
    /// writers and a flat model of the layout before versions are removed.
    pub fn write(&self, dir: &Path) -> Result<Manifest, ArtifactError> {
        self.commit(dir, true)
    }

    /// Commits the model into `dir` as a new version, like [`ModelWriter::write`], but
    /// leaves `CURRENT` as it is: a candidate to compare and [`promote`] later.
    pub fn write_unpromoted(&self, dir: &Path) -> Result<Manifest, ArtifactError> {
        self.commit(dir, false)
    }

    /// The version as files in memory (payloads and the manifest's bytes), for a store
    /// other than a local directory.
    pub fn version_files(&self) -> Result<(Manifest, VersionFiles), ArtifactError> {
        let (manifest, text) = self.manifest()?;
        let payloads = self.payloads.iter().map(|(name, (bytes, _))| (name.clone(), bytes.clone())).collect();
        Ok((manifest, VersionFiles { manifest: text.into_bytes(), payloads }))
    }

    fn commit(&self, dir: &Path, promote: bool) -> Result<Manifest, ArtifactError> {
        let lock = lock_dir(dir)?;
        let (manifest, text) = self.manifest()?;
        let version = dir.join(&manifest.id);
        if ModelDir::open_version(&version, &manifest.feature_schema).is_err() {
            if version.exists() {
                // A damaged copy under the id's name (edited by hand): replace it.
                fs::remove_dir_all(&version).map_err(io_error(&version))?;
            }
            let tmp = dir.join(format!("{TEMP_PREFIX}{}-{}", manifest.id, unique_suffix()));
            fs::create_dir(&tmp).map_err(io_error(&tmp))?;
            let files = self.payloads.iter().map(|(n, (b, _))| (n.as_str(), b.as_slice()));
            for (name, bytes) in files.chain(std::iter::once((MANIFEST_FILE, text.as_bytes()))) {
                write_synced(&tmp.join(name), bytes)?;
            }
            sync_dir(&tmp)?;
            fs::rename(&tmp, &version).map_err(io_error(&version))?;
        }
        let current = if promote {
            write_pointer(dir, &manifest.id)?;
            manifest.id.clone()
        } else {
            sync_dir(dir)?;
            current_pointer(dir)?.unwrap_or_else(|| manifest.id.clone())
        };
        prune(dir, &current)?;
        drop(lock);
        Ok(manifest)
    }
}

/// Takes the writers' lock of the model directory `dir` (creating `dir`); released on drop.
fn lock_dir(dir: &Path) -> Result<fs::File, ArtifactError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path))?;
    lock.lock().map_err(io_error(&lock_path))?;
    Ok(lock)
}

/// Replaces `dir/CURRENT` atomically (temporary file, fsync, rename, directory fsync).
fn write_pointer(dir: &Path, id: &str) -> Result<(), ArtifactError> {
    let pointer_tmp = dir.join(format!("{TEMP_PREFIX}{CURRENT_FILE}-{}", unique_suffix()));
    write_synced(&pointer_tmp, pointer_text(id).as_bytes())?;
    let pointer = dir.join(CURRENT_FILE);
    fs::rename(&pointer_tmp, &pointer).map_err(io_error(&pointer))?;
    sync_dir(dir)
}

/// The id `dir/CURRENT` names, if there is a pointer.
fn current_pointer(dir: &Path) -> Result<Option<String>, ArtifactError> {
    let pointer = dir.join(CURRENT_FILE);
    match fs::read_to_string(&pointer) {
        Ok(text) => parse_pointer(&pointer.to_string_lossy(), &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ArtifactError::Io { path: pointer, source }),
    }
}

/// The content of a `CURRENT` pointer naming `id`.
pub fn pointer_text(id: &str) -> String {
    format!("{id}\n")
}

/// The id a `CURRENT` pointer's content names; `location` names the pointer in the error.
pub fn parse_pointer(location: &str, text: &str) -> Result<String, ArtifactError> {
    let id = text.trim();
    if is_model_id(id) {
        Ok(id.to_owned())
    } else {
        Err(ArtifactError::BadPointer { path: location.into(), content: id.chars().take(64).collect() })
    }
}

/// Points `dir/CURRENT` at the version `id` after verifying it as [`load`] does; returns
/// its manifest. Rolling back is promoting an older id.
pub fn promote(dir: &Path, id: &str) -> Result<Manifest, ArtifactError> {
    let id = parse_pointer(id, id)?;
    let lock = lock_dir(dir)?;
    let version = dir.join(&id);
    let (manifest, _) = load(&version)?;
    write_pointer(dir, &id)?;
    drop(lock);
    Ok(manifest)
}

/// A model version held in memory: the manifest's exact bytes and the payloads by name.
/// [`ModelWriter::version_files`] makes one for a remote store; [`load_files`] verifies
/// one read back exactly as [`load`] verifies a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFiles {
    /// `manifest.json`'s bytes.
    pub manifest: Vec<u8>,
    /// Payloads by file name.
    pub payloads: BTreeMap<String, Vec<u8>>,
}

/// The pointer file of a model directory: the id of the current version.
pub const CURRENT_FILE: &str = "CURRENT";
/// The writers' lock file of a model directory.
const LOCK_FILE: &str = ".lock";
/// Names of writers' temporaries inside a model directory.
const TEMP_PREFIX: &str = ".tmp-";
/// Versions a model directory keeps, the current one included.
pub const KEPT_VERSIONS: usize = 5;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError {
    let path = path.to_path_buf();
    move |source| ArtifactError::Io { path, source }
}

/// A suffix no other writer uses at the same time: process id and clock nanoseconds.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let mut file = fs::File::create(path).map_err(io_error(path))?;
    std::io::Write::write_all(&mut file, bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Makes a directory's entries (a rename into it) durable.
fn sync_dir(dir: &Path) -> Result<(), ArtifactError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

/// Whether `name` has the shape of a model id (`fh-` and 16 hex digits).
pub fn is_model_id(name: &str) -> bool {
    name.len() == 19 && name.starts_with("fh-") && name[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Removes, under the writers' lock, what no reader can be pointed at: temporaries of
/// crashed writers, versions beyond the newest [`KEPT_VERSIONS`], and a flat model.
fn prune(dir: &Path, current: &str) -> Result<(), ArtifactError> {
    let mut versions = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(TEMP_PREFIX) {
            let removed = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
            removed.map_err(io_error(&path))?;
        } else if is_model_id(&name) && name != current && path.is_dir() {
            let modified = entry.metadata().and_then(|m| m.modified()).map_err(io_error(&path))?;
            versions.push((modified, path));
        }
    }
    versions.sort();
    let surplus = versions.len().saturating_sub(KEPT_VERSIONS - 1);
    for (_, path) in &versions[..surplus] {
        fs::remove_dir_all(path).map_err(io_error(path))?;
    }
    // A model of the flat layout (manifest and payloads directly in `dir`): CURRENT now
    // takes precedence, so its files would only mislead.
    let flat = dir.join(MANIFEST_FILE);
    if let Ok(text) = fs::read_to_string(&flat) {
        if let Ok(old) = serde_json::from_str::<Manifest>(&text) {
            for name in old.files.keys() {
                if check_file_name(name).is_ok() {
                    let _ = fs::remove_file(dir.join(name));
                }
            }
        }
        fs::remove_file(&flat).map_err(io_error(&flat))?;
    }
    Ok(())
}

/// The directory holding the current version of the model directory `dir`: the version
/// `dir/CURRENT` names, or `dir` itself when it holds a manifest directly (a single
/// version, such as a copied or pinned `dir/<id>/`).
pub fn resolve(dir: &Path) -> Result<PathBuf, ArtifactError> {
    Ok(match current_pointer(dir)? {
        Some(id) => dir.join(id),
        None => dir.to_path_buf(),
    })
}

/// The id of the current model in `dir` as its manifest states it, unverified: a cheap
/// check whether the model changed (then [`load`] verifies it).
pub fn current_id(dir: &Path) -> Option<String> {
    let version = resolve(dir).ok()?;
    let text = fs::read(version.join(MANIFEST_FILE)).ok()?;
    let value: Value = serde_json::from_slice(&text).ok()?;
    value["id"].as_str().map(str::to_string)
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
    /// Open and verify the current version of the model directory `dir` (see [`resolve`]):
    /// schema version, manifest integrity, feature schema, every payload's size and checksum.
    pub fn open(dir: &Path, expected: &FeatureSchema) -> Result<Self, ArtifactError> {
        Self::open_version(&resolve(dir)?, expected)
    }

    /// Open and verify one version directory (manifest and payloads directly in `dir`).
    fn open_version(dir: &Path, expected: &FeatureSchema) -> Result<Self, ArtifactError> {
        let path = dir.join(MANIFEST_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::MissingManifest(dir.into()));
            }
            Err(source) => return Err(ArtifactError::Io { path, source }),
        };
        let manifest = verify_manifest(&path, &text, expected)?;
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

    /// The version directory the model was read from.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Read a listed payload, verifying it again (it may have changed since `open`).
    pub fn read_bytes(&self, file: &str) -> Result<Vec<u8>, ArtifactError> {
        check_file_name(file)?;
        if !self.manifest.files.contains_key(file) {
            return Err(ArtifactError::NotInManifest(file.to_owned()));
        }
        let path = self.dir.join(file);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::MissingPayload(file.into()));
            }
            Err(source) => return Err(ArtifactError::Io { path, source }),
        };
        verify_payload(&self.manifest, file, &bytes)?;
        Ok(bytes)
    }

    /// Read and deserialise a listed JSON payload.
    pub fn read_json<T: DeserializeOwned>(&self, file: &str) -> Result<T, ArtifactError> {
        let bytes = self.read_bytes(file)?;
        serde_json::from_slice(&bytes).map_err(|source| ArtifactError::InvalidPayload { file: file.to_owned(), source })
    }
}

/// Verifies a manifest's bytes (`path` names it in errors): schema version first, through
/// a minimal probe, so a future layout reports its version rather than a confusing parse
/// error; then that the content hashes to its id; then the feature schema.
fn verify_manifest(path: &Path, text: &[u8], expected: &FeatureSchema) -> Result<Manifest, ArtifactError> {
    let invalid = |source| ArtifactError::InvalidManifest { path: path.to_path_buf(), source };
    let text = std::str::from_utf8(text).map_err(|e| invalid(serde::de::Error::custom(e)))?;
    let probe: VersionProbe = serde_json::from_str(text).map_err(invalid)?;
    if probe.schema_version != MODEL_SCHEMA_VERSION {
        return Err(ArtifactError::UnsupportedSchemaVersion {
            found: probe.schema_version,
            supported: MODEL_SCHEMA_VERSION,
        });
    }
    let manifest: Manifest = serde_json::from_str(text).map_err(invalid)?;
    let line = id_line(&manifest.id);
    let computed = if text.matches(&line).count() == 1 {
        manifest_id(&text.replacen(&line, &id_line(""), 1))
    } else {
        String::from("<manifest not in canonical form>")
    };
    if computed != manifest.id {
        return Err(ArtifactError::ManifestTampered { recorded: manifest.id, computed });
    }
    let dir_name = path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
    if let Some(dir) = dir_name.filter(|d| is_model_id(d) && *d != manifest.id) {
        return Err(ArtifactError::MisplacedVersion { dir, id: manifest.id });
    }
    if &manifest.feature_schema != expected {
        return Err(ArtifactError::FeatureSchemaMismatch {
            expected: expected.clone(),
            found: manifest.feature_schema,
        });
    }
    for name in manifest.files.keys() {
        check_file_name(name)?;
    }
    Ok(manifest)
}

/// Checks a payload's bytes against the manifest's size and sha256.
fn verify_payload(manifest: &Manifest, file: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
    let entry = manifest.files.get(file).ok_or_else(|| ArtifactError::NotInManifest(file.to_owned()))?;
    let actual = sha256_hex(bytes);
    if actual != entry.sha256 || bytes.len() as u64 != entry.bytes {
        return Err(ArtifactError::ChecksumMismatch { file: file.to_owned(), expected: entry.sha256.clone(), actual });
    }
    Ok(())
}

/// A manifest's bytes checked as [`load_files`] checks them (`location` names the version
/// in errors): what a remote reader reads first, to know which payloads to fetch and
/// their sizes.
pub fn verify_manifest_bytes(location: &str, manifest: &[u8]) -> Result<Manifest, ArtifactError> {
    verify_manifest(&Path::new(location).join(MANIFEST_FILE), manifest, &current_feature_schema())
}

/// Verifies a model version read into memory exactly as [`load`] verifies a directory
/// (`location` names the version in errors), then reads its baseline.
pub fn load_files(location: &str, files: &VersionFiles) -> Result<(Manifest, Baseline), ArtifactError> {
    let path = Path::new(location).join(MANIFEST_FILE);
    let manifest = verify_manifest(&path, &files.manifest, &current_feature_schema())?;
    for name in manifest.files.keys() {
        let bytes = files.payloads.get(name).ok_or_else(|| ArtifactError::MissingPayload(name.clone()))?;
        verify_payload(&manifest, name, bytes)?;
    }
    let bytes = files.payloads.get(BASELINE_FILE).ok_or_else(|| ArtifactError::NotInManifest(BASELINE_FILE.into()))?;
    let baseline = baseline_of(&manifest, bytes)?;
    Ok((manifest, baseline))
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

/// Writes `baseline` into the model directory `dir` as a new version ([`BASELINE_FILE`]
/// plus the manifest) and makes it the current one; returns the manifest.
pub fn save(baseline: &Baseline, dir: &Path) -> Result<Manifest, ArtifactError> {
    writer(baseline)?.write(dir)
}

/// The model of `baseline`, ready to be written to a directory or turned into files for
/// another store.
pub fn writer(baseline: &Baseline) -> Result<ModelWriter, ArtifactError> {
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
    Ok(writer)
}

/// Opens and verifies a model directory against this build's feature schema, then reads its
/// baseline.
pub fn load(dir: &Path) -> Result<(Manifest, Baseline), ArtifactError> {
    let model = ModelDir::open(dir, &current_feature_schema())?;
    let bytes = model.read_bytes(BASELINE_FILE)?;
    let baseline = baseline_of(&model.manifest, &bytes)?;
    Ok((model.manifest, baseline))
}

/// Parses the verified baseline payload and checks it agrees with its manifest.
fn baseline_of(manifest: &Manifest, bytes: &[u8]) -> Result<Baseline, ArtifactError> {
    let baseline: Baseline = serde_json::from_slice(bytes)
        .map_err(|source| ArtifactError::InvalidPayload { file: BASELINE_FILE.to_owned(), source })?;
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
    Ok(baseline)
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
            let read = |d: &tempfile::TempDir| fs::read(resolve(d.path()).unwrap().join(name)).unwrap();
            assert_eq!(read(&a), read(&b), "{name}");
        }
        // The version, its pointer and the writers' lock; no temporaries left behind.
        let mut names: Vec<String> =
            fs::read_dir(a.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let id = fs::read_to_string(a.path().join(CURRENT_FILE)).unwrap().trim().to_string();
        assert_eq!(names, [".lock".to_string(), CURRENT_FILE.to_string(), id]);
        assert_eq!(fs::read_dir(resolve(a.path()).unwrap()).unwrap().count(), 3);
    }

    #[test]
    fn versions_are_kept_pointed_at_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = Vec::new();
        for seed in 0..KEPT_VERSIONS as u64 + 2 {
            let (mut w, _) = writer();
            w.seed("extra", seed);
            ids.push(w.write(dir.path()).unwrap().id);
            // Versions are ordered by modification time: keep them apart.
            std::thread::sleep(std::time::Duration::from_millis(15));
            assert_eq!(current_id(dir.path()).as_deref(), Some(ids.last().unwrap().as_str()));
        }
        let m = ModelDir::open(dir.path(), &schema()).unwrap();
        assert_eq!(&m.manifest().id, ids.last().unwrap());
        assert_eq!(m.path(), dir.path().join(ids.last().unwrap()));
        for (i, id) in ids.iter().enumerate() {
            let kept = i >= ids.len() - KEPT_VERSIONS;
            assert_eq!(dir.path().join(id).is_dir(), kept, "version {i}");
        }
        // Rolling back is pointing CURRENT at a kept version; a pinned version opens directly.
        let old = &ids[ids.len() - 2];
        fs::write(dir.path().join(CURRENT_FILE), format!("{old}\n")).unwrap();
        assert_eq!(&ModelDir::open(dir.path(), &schema()).unwrap().manifest().id, old);
        assert_eq!(
            &ModelDir::open(&dir.path().join(&ids[ids.len() - 1]), &schema()).unwrap().manifest().id,
            ids.last().unwrap()
        );
        fs::write(dir.path().join(CURRENT_FILE), "../../etc\n").unwrap();
        assert!(matches!(ModelDir::open(dir.path(), &schema()), Err(ArtifactError::BadPointer { .. })));
    }

    #[test]
    fn a_flat_model_is_read_and_replaced_by_versions() {
        let flat = tempfile::tempdir().unwrap();
        let (w, _) = writer();
        let (manifest, text) = w.manifest().unwrap();
        fs::write(flat.path().join(MANIFEST_FILE), text).unwrap();
        for (name, (bytes, _)) in &w.payloads {
            fs::write(flat.path().join(name), bytes).unwrap();
        }
        assert_eq!(ModelDir::open(flat.path(), &schema()).unwrap().manifest().id, manifest.id);
        let (mut w2, _) = writer();
        w2.seed("extra", 1);
        let second = w2.write(flat.path()).unwrap();
        assert_eq!(ModelDir::open(flat.path(), &schema()).unwrap().manifest().id, second.id);
        for name in [MANIFEST_FILE, "iforest.json", "notes.txt"] {
            assert!(!flat.path().join(name).exists(), "{name}");
        }
    }

    #[test]
    fn concurrent_writers_leave_one_complete_model() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6u64)
                .map(|seed| {
                    let path = dir.path();
                    scope.spawn(move || {
                        let (mut w, _) = writer();
                        w.seed("extra", seed);
                        w.write(path).unwrap().id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let current = ModelDir::open(dir.path(), &schema()).unwrap();
        assert!(ids.contains(&current.manifest().id));
        for entry in fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(TEMP_PREFIX), "temporary {name} left behind");
            if is_model_id(&name) {
                assert!(ModelDir::open(&dir.path().join(&name), &schema()).is_ok(), "version {name} incomplete");
            }
        }
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
        let p = resolve(dir.path()).unwrap().join("iforest.json");
        let text = fs::read_to_string(&p).unwrap().replacen("\"n_features\":2", "\"n_features\":3", 1);
        fs::write(&p, text).unwrap();
        let err = ModelDir::open(dir.path(), &schema()).unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { ref file, .. } if file == "iforest.json"), "{err}");
    }

    #[test]
    fn detects_edited_manifest() {
        let (dir, _) = written();
        let p = resolve(dir.path()).unwrap().join(MANIFEST_FILE);
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
        fs::remove_file(resolve(dir.path()).unwrap().join("notes.txt")).unwrap();
        let err = ModelDir::open(dir.path(), &schema()).unwrap_err();
        assert!(matches!(err, ArtifactError::MissingPayload(ref f) if f == "notes.txt"), "{err}");
        fs::remove_file(resolve(dir.path()).unwrap().join(MANIFEST_FILE)).unwrap();
        assert!(matches!(ModelDir::open(dir.path(), &schema()), Err(ArtifactError::MissingManifest(_))));
    }

    #[test]
    fn refuses_other_schema_version() {
        let (dir, _) = written();
        let p = resolve(dir.path()).unwrap().join(MANIFEST_FILE);
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
                fs::read(resolve(dir.path()).unwrap().join(name)).unwrap()
                    == fs::read(resolve(&reference()).unwrap().join(name)).unwrap(),
                "saving the loaded reference model must reproduce {name} byte for byte"
            );
        }
        let (again_manifest, again) = load(dir.path()).unwrap();
        assert_eq!((again_manifest.id, again), (manifest.id, baseline));
    }

    #[test]
    fn refuses_a_tampered_baseline() {
        let (dir, _) = saved_reference();
        let payload = resolve(dir.path()).unwrap().join(BASELINE_FILE);
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
        let p = resolve(dir.path()).unwrap().join(MANIFEST_FILE);
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

    #[test]
    fn an_unpromoted_version_waits_for_promote_and_rollback_is_a_promote() {
        let (_, baseline) = load(&reference()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let first = save(&baseline, dir.path()).unwrap();
        let mut other = super::writer(&baseline).unwrap();
        other.seed("candidate", 7);
        let candidate = other.write_unpromoted(dir.path()).unwrap();
        assert_ne!(candidate.id, first.id);
        assert_eq!(current_id(dir.path()).as_deref(), Some(first.id.as_str()), "CURRENT must not move");
        assert!(dir.path().join(&candidate.id).join(MANIFEST_FILE).is_file());

        assert_eq!(promote(dir.path(), &candidate.id).unwrap().id, candidate.id);
        assert_eq!(current_id(dir.path()).as_deref(), Some(candidate.id.as_str()));
        assert_eq!(promote(dir.path(), &first.id).unwrap().id, first.id, "rollback");
        assert_eq!(fs::read_to_string(dir.path().join(CURRENT_FILE)).unwrap(), pointer_text(&first.id));

        let err = promote(dir.path(), "fh-0000000000000000").unwrap_err();
        assert!(matches!(err, ArtifactError::MissingManifest(_)), "{err}");
        let err = promote(dir.path(), "../etc").unwrap_err();
        assert!(matches!(err, ArtifactError::BadPointer { .. }), "{err}");
        // A damaged version is refused and CURRENT stays.
        fs::write(dir.path().join(&candidate.id).join(BASELINE_FILE), b"{}").unwrap();
        let err = promote(dir.path(), &candidate.id).unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { .. }), "{err}");
        assert_eq!(current_id(dir.path()).as_deref(), Some(first.id.as_str()));
    }

    #[test]
    fn version_files_verify_like_a_directory() {
        let (_, baseline) = load(&reference()).unwrap();
        let (manifest, files) = super::writer(&baseline).unwrap().version_files().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let on_disk = save(&baseline, dir.path()).unwrap();
        assert_eq!(manifest, on_disk);
        let version = dir.path().join(&manifest.id);
        assert_eq!(files.manifest, fs::read(version.join(MANIFEST_FILE)).unwrap(), "same bytes as the directory");
        assert_eq!(files.payloads[BASELINE_FILE], fs::read(version.join(BASELINE_FILE)).unwrap());
        let checked = verify_manifest_bytes("s3://b/m/x", &files.manifest).unwrap();
        assert_eq!(checked.files.keys().collect::<Vec<_>>(), vec![BASELINE_FILE]);

        let (loaded, _) = load_files("s3://b/m/x", &files).unwrap();
        assert_eq!(loaded.id, manifest.id);

        let mut tampered = files.clone();
        let payload = tampered.payloads.get_mut(BASELINE_FILE).unwrap();
        let at = payload.iter().rposition(|b| b.is_ascii_digit()).unwrap();
        payload[at] = if payload[at] == b'1' { b'2' } else { b'1' };
        let err = load_files("s3://b/m/x", &tampered).unwrap_err();
        assert!(matches!(err, ArtifactError::ChecksumMismatch { .. }), "{err}");

        let mut missing = files.clone();
        missing.payloads.clear();
        assert!(matches!(load_files("s3://b/m/x", &missing).unwrap_err(), ArtifactError::MissingPayload(_)));

        let mut edited = files.clone();
        edited.manifest =
            String::from_utf8(files.manifest.clone()).unwrap().replace("\"days\"", "\"dayz\"").into_bytes();
        assert!(matches!(load_files("s3://b/m/x", &edited).unwrap_err(), ArtifactError::ManifestTampered { .. }));
        let err = load_files("s3://b/m/fh-0000000000000000", &files).unwrap_err();
        assert!(matches!(err, ArtifactError::MisplacedVersion { .. }), "{err}");
        fs::rename(&version, dir.path().join("fh-0000000000000000")).unwrap();
        let err = load(&dir.path().join("fh-0000000000000000")).unwrap_err();
        assert!(matches!(err, ArtifactError::MisplacedVersion { .. }), "{err}");
        let err = load_files("s3://b/m/x", &VersionFiles { manifest: vec![0xff, 0xfe], ..files }).unwrap_err();
        assert!(err.to_string().starts_with("s3://b/m/x/manifest.json: invalid manifest"), "{err}");
    }

    #[test]
    fn pointers_name_only_model_ids() {
        assert_eq!(parse_pointer("p", "fh-0123456789abcdef\n").unwrap(), "fh-0123456789abcdef");
        for bad in ["", "fh-0123", "../fh-0123456789abcdef", "fh-0123456789abcdeg", "fh-0123456789abcdef/x"] {
            assert!(matches!(parse_pointer("p", bad), Err(ArtifactError::BadPointer { .. })), "{bad:?}");
        }
    }
}

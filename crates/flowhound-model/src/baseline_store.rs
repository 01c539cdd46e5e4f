//! The model directory of CONTRACT §7: `manifest.json` plus the payload `baseline.json`.
//!
//! The manifest names the schema versions, the model id (derived from the payload's hash,
//! so the same training gives the same id), the feature schema, the training range and
//! counts, every parameter and seed, and the sha256 of each payload. Loading verifies all
//! of it before parsing the payload and refuses any mismatch.

use std::path::{Path, PathBuf};

use flowhound_features::{FEATURE_SCHEMA_VERSION, feature_names};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::baseline::{BASELINE_SCHEMA_VERSION, Baseline, BaselineValidParams, TrainInfo};
use crate::detect::DetectConfig;

pub const MANIFEST: &str = "manifest.json";
pub const PAYLOAD: &str = "baseline.json";

/// Errors writing or loading a model directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a valid model file: {message}", path.display())]
    Json { path: PathBuf, message: String },
    #[error("model schema version {found} is not supported (this build reads version {supported})")]
    SchemaVersion { found: u32, supported: u32 },
    #[error("model was trained on feature schema version {found} {names}, this build computes version {supported}")]
    FeatureSchema { found: u32, supported: u32, names: String },
    #[error(
        "checksum mismatch for {file}: the manifest says {expected}, the file hashes to {actual} (the model was modified or damaged)"
    )]
    Checksum { file: String, expected: String, actual: String },
    #[error("the manifest lists no payload {0}")]
    MissingPayload(&'static str),
    #[error("model id {manifest} in the manifest does not match the payload's {payload}")]
    IdMismatch { manifest: String, payload: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    pub version: u32,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadEntry {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    pub baseline: BaselineValidParams,
    pub detect: DetectConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub id: String,
    pub feature_schema: FeatureSchema,
    pub training: TrainInfo,
    pub peer_groups: usize,
    pub parameters: Parameters,
    pub seeds: Seeds,
    pub payloads: Vec<PayloadEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seeds {
    pub peer_groups: u64,
    pub isolation_forest: u64,
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

fn json_err(path: &Path, e: &serde_json::Error) -> StoreError {
    StoreError::Json { path: path.to_path_buf(), message: e.to_string() }
}

/// Serialises the payload (deterministic: ordered collections, shortest float formatting).
pub fn payload_bytes(baseline: &Baseline) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(baseline)
}

/// The model id: a prefix of the payload's hash, so identical training gives an identical id.
pub fn model_id(payload: &[u8]) -> String {
    format!("fh-{}", &sha256_hex(payload)[..16])
}

/// Writes `baseline` as a model directory; returns the manifest.
pub fn save(baseline: &Baseline, dir: &Path) -> Result<Manifest, StoreError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let payload_path = dir.join(PAYLOAD);
    let payload = payload_bytes(baseline).map_err(|e| json_err(&payload_path, &e))?;
    let manifest = Manifest {
        schema_version: BASELINE_SCHEMA_VERSION,
        id: model_id(&payload),
        feature_schema: FeatureSchema { version: FEATURE_SCHEMA_VERSION, names: baseline.forest.feature_names.clone() },
        training: baseline.train.clone(),
        peer_groups: baseline.groups.k(),
        parameters: Parameters { baseline: baseline.params.clone(), detect: baseline.detect.clone() },
        seeds: Seeds {
            peer_groups: baseline.groups.fitted_params().seed(),
            isolation_forest: baseline.forest.forest.fitted_params().seed(),
        },
        payloads: vec![PayloadEntry {
            file: PAYLOAD.into(),
            sha256: sha256_hex(&payload),
            bytes: payload.len() as u64,
            format: "json (serde of flowhound_model::baseline::Baseline)".into(),
        }],
    };
    // Payload first, manifest last: a crash in between leaves no loadable half-model.
    std::fs::write(&payload_path, &payload).map_err(io(&payload_path))?;
    let manifest_path = dir.join(MANIFEST);
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| json_err(&manifest_path, &e))?;
    text.push(b'\n');
    std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;
    Ok(manifest)
}

/// Reads and verifies a model directory.
pub fn load(dir: &Path) -> Result<(Manifest, Baseline), StoreError> {
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let probe: serde_json::Value = serde_json::from_slice(&text).map_err(|e| json_err(&manifest_path, &e))?;
    // Check the version before the full shape, so an old model gets the version error.
    let found = probe.get("schema_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if found != u64::from(BASELINE_SCHEMA_VERSION) {
        return Err(StoreError::SchemaVersion {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: BASELINE_SCHEMA_VERSION,
        });
    }
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| json_err(&manifest_path, &e))?;
    let current: Vec<String> = feature_names().iter().map(|s| s.to_string()).collect();
    if manifest.feature_schema.version != FEATURE_SCHEMA_VERSION || manifest.feature_schema.names != current {
        return Err(StoreError::FeatureSchema {
            found: manifest.feature_schema.version,
            supported: FEATURE_SCHEMA_VERSION,
            names: format!("({} columns)", manifest.feature_schema.names.len()),
        });
    }
    let entry = manifest.payloads.iter().find(|p| p.file == PAYLOAD).ok_or(StoreError::MissingPayload(PAYLOAD))?;
    for p in &manifest.payloads {
        let path = dir.join(&p.file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let actual = sha256_hex(&bytes);
        if actual != p.sha256 {
            return Err(StoreError::Checksum { file: p.file.clone(), expected: p.sha256.clone(), actual });
        }
    }
    let payload_path = dir.join(&entry.file);
    let bytes = std::fs::read(&payload_path).map_err(io(&payload_path))?;
    let id = model_id(&bytes);
    if id != manifest.id {
        return Err(StoreError::IdMismatch { manifest: manifest.id.clone(), payload: id });
    }
    let baseline: Baseline = serde_json::from_slice(&bytes).map_err(|e| json_err(&payload_path, &e))?;
    if baseline.schema_version != BASELINE_SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion { found: baseline.schema_version, supported: BASELINE_SCHEMA_VERSION });
    }
    Ok((manifest, baseline))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/reference")
    }

    #[test]
    fn reference_model_loads_and_round_trips() {
        let (manifest, baseline) = load(&reference()).expect("models/reference must load (see models/README.md)");
        assert!(manifest.id.starts_with("fh-"));
        assert!(baseline.train.hosts >= 12);
        assert!(!baseline.histories.hosts.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let saved = save(&baseline, dir.path()).unwrap();
        assert_eq!(saved.id, manifest.id, "re-serialising the payload must give the same bytes");
        let (_, again) = load(dir.path()).unwrap();
        assert_eq!(again, baseline);
    }

    #[test]
    fn tampering_and_version_mismatches_are_refused() {
        let (_, baseline) = load(&reference()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        save(&baseline, dir.path()).unwrap();
        let payload = dir.path().join(PAYLOAD);
        let mut bytes = std::fs::read(&payload).unwrap();
        let at = bytes.len() / 3;
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&payload, &bytes).unwrap();
        assert!(matches!(load(dir.path()), Err(StoreError::Checksum { .. })));

        save(&baseline, dir.path()).unwrap();
        let manifest_path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).unwrap();
        std::fs::write(&manifest_path, text.replacen("\"schema_version\": 1", "\"schema_version\": 99", 1)).unwrap();
        assert!(matches!(load(dir.path()), Err(StoreError::SchemaVersion { found: 99, .. })));

        save(&baseline, dir.path()).unwrap();
        let text = std::fs::read_to_string(&manifest_path).unwrap();
        std::fs::write(&manifest_path, text.replacen("\"flows_out\"", "\"flows_renamed\"", 1)).unwrap();
        assert!(matches!(load(dir.path()), Err(StoreError::FeatureSchema { .. })));
    }
}

//! What `serve` remembers across restarts, written atomically (temporary file, fsync,
//! rename, fsync of the folder) so that a crash leaves either the old or the new
//! checkpoint, never a mix.
//!
//! A checkpoint holds the open feature state, the watermark, the ledger of processed
//! objects, the length of the findings file at the checkpoint, and the metrics of the
//! last cycle (the outbox) with its sequence number. `published.json` records the last
//! outbox sequence sent to CloudWatch.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flowhound_aws::cloudwatch::Metric;
use flowhound_features::FeatureState;
use serde::{Deserialize, Serialize};

/// Format version of the checkpoint file.
pub const CHECKPOINT_VERSION: u32 = 1;

/// One processed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub etag: Option<String>,
    pub records: u64,
    pub malformed: u64,
    /// Epoch seconds.
    pub processed_at: u64,
}

/// The durable state of the loop.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// Model the windows so far were scored with (informational).
    pub model_id: String,
    pub features: FeatureState,
    /// Windows ending at or before this have been scored (epoch seconds, 0 = none).
    pub watermark: u64,
    /// Newest record `end` seen.
    pub newest_end: Option<u64>,
    /// Processed objects by `s3://bucket/key`.
    pub ledger: BTreeMap<String, LedgerEntry>,
    /// Length of the findings file once this checkpoint's findings were written.
    pub findings_bytes: u64,
    /// Metrics of the cycle this checkpoint ends, until published.
    pub outbox: Vec<Metric>,
    pub outbox_seq: u64,
    /// Incidents reported and not yet closed (a checkpoint from before incidents has none).
    #[serde(default)]
    pub incidents: flowhound_model::incident::Tracker,
}

/// Paths inside the state folder, held under its lock.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
    /// `.lock`, locked for as long as serve runs (the OS releases it when serve dies).
    _lock: std::sync::Arc<std::fs::File>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Published {
    seq: u64,
}

impl StateDir {
    /// Opens (creating) the state folder and takes its lock: two serve processes on one
    /// state would split the queue's objects between diverging states and overwrite each
    /// other's checkpoints, so the second one refuses to start. The lock is advisory
    /// (`flock`), which local filesystems and EFS (NFSv4) both honour.
    pub fn open(dir: &Path) -> Result<StateDir> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating state folder {}", dir.display()))?;
        let path = dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "state folder {} is in use by another serve ({} is locked): one state, one serve",
                dir.display(),
                path.display()
            ),
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(StateDir { dir: dir.to_path_buf(), _lock: std::sync::Arc::new(file) })
    }

    fn checkpoint_path(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }

    /// The last checkpoint, if any.
    pub fn load(&self) -> Result<Option<Checkpoint>> {
        let path = self.checkpoint_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let checkpoint: Checkpoint =
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not a valid checkpoint", path.display()))?;
        if checkpoint.version != CHECKPOINT_VERSION {
            anyhow::bail!("{}: checkpoint version {} is not {CHECKPOINT_VERSION}", path.display(), checkpoint.version);
        }
        Ok(Some(checkpoint))
    }

    pub fn save(&self, checkpoint: &Checkpoint) -> Result<()> {
        let bytes = serde_json::to_vec(checkpoint).context("serializing the checkpoint")?;
        write_atomically(&self.checkpoint_path(), &bytes)
    }

    /// The last outbox sequence number sent to CloudWatch (0 if none).
    pub fn published_seq(&self) -> Result<u64> {
        let path = self.dir.join("published.json");
        match std::fs::read(&path) {
            Ok(b) => Ok(serde_json::from_slice::<Published>(&b).with_context(|| format!("{}", path.display()))?.seq),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn mark_published(&self, seq: u64) -> Result<()> {
        let bytes = serde_json::to_vec(&Published { seq })?;
        write_atomically(&self.dir.join("published.json"), &bytes)
    }
}

/// Writes `bytes` to `path` so that readers see the old or the new content, even after
/// a crash or power loss: a temporary file in the same folder, fsync, rename, fsync of
/// the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// Opens the findings file for appending after cutting it back to `length`: findings
/// written after the last checkpoint are derived again from the redelivered objects, so
/// they must not stay twice.
pub fn open_findings(path: &Path, length: u64) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let current = file.metadata()?.len();
    if current > length {
        tracing::warn!(
            path = %path.display(),
            from = current,
            to = length,
            "findings written after the last checkpoint removed; they are derived again"
        );
        file.set_len(length)?;
        file.sync_all()?;
    } else if current < length {
        anyhow::bail!(
            "{} is shorter ({current} bytes) than the checkpoint says ({length}): it was truncated or replaced",
            path.display()
        );
    }
    Ok(file)
}

/// Drops ledger entries older than `retention` seconds before `now`.
pub fn prune_ledger(ledger: &mut BTreeMap<String, LedgerEntry>, now: u64, retention: u64) -> usize {
    let before = ledger.len();
    ledger.retain(|_, e| e.processed_at + retention >= now);
    before - ledger.len()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flowhound_features::FeatureConfig;

    use super::*;

    fn checkpoint(seq: u64) -> Checkpoint {
        let cfg = Arc::new(FeatureConfig::new(900, 86_400, &[]).unwrap());
        let mut ledger = BTreeMap::new();
        ledger.insert(
            "s3://b/k1.log.gz".to_string(),
            LedgerEntry { etag: Some("\"e1\"".into()), records: 10, malformed: 1, processed_at: 1000 },
        );
        Checkpoint {
            version: CHECKPOINT_VERSION,
            model_id: "fh-x".into(),
            features: FeatureState::new(cfg),
            watermark: 900,
            newest_end: Some(1500),
            ledger,
            findings_bytes: 42,
            outbox: vec![Metric::records_processed(10, 1000)],
            outbox_seq: seq,
            incidents: Default::default(),
        }
    }

    #[test]
    fn checkpoints_round_trip_and_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert!(state.load().unwrap().is_none());
        state.save(&checkpoint(1)).unwrap();
        state.save(&checkpoint(2)).unwrap();
        let loaded = state.load().unwrap().unwrap();
        assert_eq!(loaded.outbox_seq, 2);
        assert_eq!(loaded.ledger["s3://b/k1.log.gz"].records, 10);
        assert_eq!(loaded.outbox, vec![Metric::records_processed(10, 1000)]);
        assert_eq!((loaded.watermark, loaded.newest_end, loaded.findings_bytes), (900, Some(1500), 42));
        let cfg = Arc::new(FeatureConfig::new(900, 86_400, &[]).unwrap());
        assert!(loaded.features.resume(cfg).is_ok());
        // No temporary file is left behind.
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec![".lock".to_string(), "checkpoint.json".to_string()]);
        assert_eq!(state.published_seq().unwrap(), 0);
        state.mark_published(2).unwrap();
        assert_eq!(state.published_seq().unwrap(), 2);
    }

    #[test]
    fn damaged_checkpoints_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("checkpoint.json"), b"{\"version\":1,").unwrap();
        assert!(state.load().is_err());
    }

    #[test]
    fn findings_after_the_checkpoint_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        let mut file = open_findings(&path, 8).unwrap();
        file.write_all(b"{\"c\":3}\n").unwrap();
        drop(file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"c\":3}\n");
        assert!(open_findings(&path, 100).is_err(), "a shorter file than recorded is an error");
    }

    #[test]
    fn old_ledger_entries_are_pruned() {
        let mut ledger = checkpoint(0).ledger;
        assert_eq!(prune_ledger(&mut ledger, 1000 + 86_400, 86_400), 0);
        assert_eq!(prune_ledger(&mut ledger, 1001 + 86_400, 86_400), 1);
        assert!(ledger.is_empty());
    }

    #[test]
    fn one_state_folder_one_serve() {
        let tmp = tempfile::tempdir().unwrap();
        let first = StateDir::open(tmp.path()).unwrap();
        let err = StateDir::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("is in use by another serve"), "{err}");
        // A clone (the same serve) shares the lock; dropping every handle releases it.
        let clone = first.clone();
        drop(first);
        assert!(StateDir::open(tmp.path()).is_err());
        drop(clone);
        StateDir::open(tmp.path()).unwrap();
    }
}

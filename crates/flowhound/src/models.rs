//! Where models live: a local model directory or `s3://bucket/prefix/` laid out the same
//! way (models/README.md): `<prefix><id>/manifest.json` and payloads, immutable per id,
//! and `<prefix>CURRENT` naming the version in use. A location whose last component is a
//! model id, or that holds a manifest and no pointer, is one pinned version.
//!
//! A model read from S3 is verified exactly as a local one ([`artifact::load_files`]):
//! same schema, id, feature-schema and checksum checks, on the bytes fetched. Writing
//! uploads the payloads, then the manifest, then (when promoting) the pointer, so a
//! reader that follows the pointer always finds a whole version. A version already in
//! the store under its id (same content, by construction) is not uploaded again. Nothing
//! here deletes: old versions stay for rollback (a lifecycle rule may expire them).
//!
//! The calls made are `GetObject` and `PutObject` below the prefix; no listing.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use flowhound_aws::s3::{S3Client, S3Options, S3Url};
use flowhound_aws::{AwsOptions, load_config};
use flowhound_model::Baseline;
use flowhound_model::artifact::{self, CURRENT_FILE, MANIFEST_FILE, Manifest, ModelWriter, VersionFiles};

use crate::aws::{aws_runtime, s3_error};

/// Largest manifest or pointer read from S3; a model's payload is read up to the size its
/// verified manifest states.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// A model location as given to `--model` or serve's `model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    Local(PathBuf),
    /// `prefix` is empty (the bucket's root) or ends with `/`.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl ModelLocation {
    /// `s3://bucket/prefix[/]` or a path; `base` resolves a relative path.
    pub fn parse(text: &str, base: Option<&Path>) -> Result<ModelLocation, String> {
        if text.starts_with("s3://") {
            let url = S3Url::parse(text).map_err(|e| e.to_string())?;
            let mut prefix = url.prefix;
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            return Ok(ModelLocation::S3 { bucket: url.bucket, prefix });
        }
        if text.is_empty() {
            return Err("empty model location".into());
        }
        let path = PathBuf::from(text);
        Ok(ModelLocation::Local(match base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }))
    }

    /// The version `id` inside this model directory.
    pub fn version(&self, id: &str) -> ModelLocation {
        match self {
            ModelLocation::Local(dir) => ModelLocation::Local(dir.join(id)),
            ModelLocation::S3 { bucket, prefix } => {
                ModelLocation::S3 { bucket: bucket.clone(), prefix: format!("{prefix}{id}/") }
            }
        }
    }
}

/// clap's value parser for `--model`.
pub fn parse_model_arg(text: &str) -> Result<ModelLocation, String> {
    ModelLocation::parse(text, None)
}

impl fmt::Display for ModelLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelLocation::Local(dir) => write!(f, "{}", dir.display()),
            ModelLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Models in one S3 model directory, for async callers (`serve`).
#[derive(Debug, Clone)]
pub struct S3Models {
    client: S3Client,
    bucket: String,
    prefix: String,
}

impl S3Models {
    pub fn new(client: S3Client, bucket: &str, prefix: &str) -> S3Models {
        S3Models { client, bucket: bucket.to_owned(), prefix: prefix.to_owned() }
    }

    /// `s3://bucket/prefix/`.
    pub fn location(&self) -> String {
        self.url(&self.prefix)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    async fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        self.client.get_bytes(&self.bucket, key, limit).await.map_err(s3_error)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.client.put_bytes(&self.bucket, key, bytes, content_type).await.map_err(s3_error)
    }

    /// The key prefix of the version in use: the one `CURRENT` names, or the prefix itself
    /// when it is a pinned version (its last component an id, or no pointer).
    async fn current_version(&self) -> Result<String> {
        let last = self.prefix.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if artifact::is_model_id(last) {
            return Ok(self.prefix.clone());
        }
        let pointer = format!("{}{CURRENT_FILE}", self.prefix);
        match self.get(&pointer, MAX_MANIFEST_BYTES).await? {
            Some(bytes) => {
                let id = artifact::parse_pointer(&self.url(&pointer), &String::from_utf8_lossy(&bytes))?;
                Ok(format!("{}{id}/", self.prefix))
            }
            None => Ok(self.prefix.clone()),
        }
    }

    /// The current model's id, unverified: the cheap check whether the model changed
    /// (one `GetObject` of the pointer; of the manifest for a pinned version). `None`
    /// when there is no model.
    pub async fn current_id(&self) -> Result<Option<String>> {
        let version = self.current_version().await?;
        let last = version.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if artifact::is_model_id(last) {
            return Ok(Some(last.to_owned()));
        }
        let key = format!("{version}{MANIFEST_FILE}");
        let Some(manifest) = self.get(&key, MAX_MANIFEST_BYTES).await? else { return Ok(None) };
        let value: serde_json::Value =
            serde_json::from_slice(&manifest).with_context(|| format!("{}: invalid manifest", self.url(&key)))?;
        let id = value["id"].as_str().ok_or_else(|| anyhow!("{}: manifest has no id", self.url(&key)))?;
        Ok(Some(id.to_owned()))
    }

    async fn manifest_bytes(&self, version: &str) -> Result<Vec<u8>> {
        let key = format!("{version}{MANIFEST_FILE}");
        self.get(&key, MAX_MANIFEST_BYTES).await?.ok_or_else(|| {
            anyhow!(
                "{} holds no model: neither {CURRENT_FILE} nor {MANIFEST_FILE} (train --model writes one)",
                self.url(version)
            )
        })
    }

    /// Fetches and verifies the version at `version` (a key prefix ending in `/`).
    async fn load_version(&self, version: &str) -> Result<(Manifest, Baseline)> {
        let location = self.url(version.trim_end_matches('/'));
        let manifest_bytes = self.manifest_bytes(version).await?;
        let manifest = artifact::verify_manifest_bytes(&location, &manifest_bytes)?;
        let mut files = VersionFiles { manifest: manifest_bytes, ..VersionFiles::default() };
        for (name, entry) in &manifest.files {
            let key = format!("{version}{name}");
            let bytes = self
                .get(&key, entry.bytes)
                .await?
                .ok_or_else(|| artifact::ArtifactError::MissingPayload(self.url(&key)))?;
            files.payloads.insert(name.clone(), bytes);
        }
        Ok(artifact::load_files(&location, &files)?)
    }

    /// Fetches and verifies version `id`.
    pub async fn load_version_id(&self, id: &str) -> Result<(Manifest, Baseline)> {
        let id = artifact::parse_pointer(id, id)?;
        self.load_version(&format!("{}{id}/", self.prefix)).await
    }

    /// Fetches and verifies the current model.
    pub async fn load(&self) -> Result<(Manifest, Baseline)> {
        let version = self.current_version().await?;
        self.load_version(&version).await
    }

    /// Uploads the model as a new version (unless that id is already there, whole); then,
    /// when `promote`, points `CURRENT` at it.
    pub async fn save(&self, writer: &ModelWriter, promote: bool) -> Result<Manifest> {
        let (manifest, files) = writer.version_files()?;
        let version = format!("{}{}/", self.prefix, manifest.id);
        // A new id (the usual case) costs one GetObject; a copy already there is verified.
        let present = match self.get(&format!("{version}{MANIFEST_FILE}"), MAX_MANIFEST_BYTES).await? {
            None => false,
            Some(_) => match self.load_version(&version).await {
                Ok(_) => true,
                Err(err) => {
                    tracing::warn!(version = %self.url(&version), error = format!("{err:#}"), "replacing a damaged copy of the version");
                    false
                }
            },
        };
        if present {
            tracing::info!(model = %manifest.id, "version already in the store");
        } else {
            for (name, bytes) in files.payloads {
                self.put(&format!("{version}{name}"), bytes, "application/json").await?;
            }
            self.put(&format!("{version}{MANIFEST_FILE}"), files.manifest, "application/json").await?;
        }
        if promote {
            self.write_pointer(&manifest.id).await?;
        }
        Ok(manifest)
    }

    /// Verifies version `id` and points `CURRENT` at it.
    pub async fn promote(&self, id: &str) -> Result<Manifest> {
        let (manifest, _) = self.load_version_id(id).await?;
        self.write_pointer(&manifest.id).await?;
        Ok(manifest)
    }

    async fn write_pointer(&self, id: &str) -> Result<()> {
        let key = format!("{}{CURRENT_FILE}", self.prefix);
        self.put(&key, artifact::pointer_text(id).into_bytes(), "text/plain").await
    }
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// Model directory, local or s3://bucket/prefix/.
    #[arg(long, value_name = "DIR", value_parser = parse_model_arg)]
    pub model: ModelLocation,
    /// The version to make current (fh-…; a previous one to roll back).
    #[arg(value_name = "ID")]
    pub id: String,
}

/// `flowhound promote`: verify the version, then repoint `CURRENT` (serve follows within
/// its `model_check`).
pub fn run_promote(args: &PromoteArgs) -> Result<std::process::ExitCode> {
    let manifest = promote(&args.model, &args.id)?;
    println!("current model of {} is now {}", args.model, manifest.id);
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs `f` against the S3 model directory with a runtime of its own (commands).
fn with_s3<T>(bucket: &str, prefix: &str, f: impl AsyncFnOnce(&S3Models) -> Result<T>) -> Result<T> {
    let runtime = aws_runtime()?;
    runtime.block_on(async {
        let config = load_config(&AwsOptions::default()).await;
        let models = S3Models::new(S3Client::new(&config, S3Options::default()), bucket, prefix);
        f(&models).await
    })
}

/// The current model's id at `location` as its manifest states it, unverified; `None`
/// when there is no model yet.
pub fn current_id(location: &ModelLocation) -> Result<Option<String>> {
    match location {
        ModelLocation::Local(dir) => Ok(artifact::current_id(dir)),
        ModelLocation::S3 { bucket, prefix } => with_s3(bucket, prefix, async |m| m.current_id().await),
    }
}

/// Loads and verifies the current model at `location`; a refused model is a runtime
/// failure (exit 1).
pub fn load(location: &ModelLocation) -> Result<(Manifest, Baseline)> {
    let loaded = match location {
        ModelLocation::Local(dir) => artifact::load(dir).map_err(anyhow::Error::new),
        ModelLocation::S3 { bucket, prefix } => with_s3(bucket, prefix, async |m| m.load().await),
    };
    loaded.with_context(|| format!("refusing model {location}"))
}

/// Writes `baseline` as a new version at `location`; `promote` points `CURRENT` at it.
pub fn save(location: &ModelLocation, baseline: &Baseline, promote: bool) -> Result<Manifest> {
    let writer = artifact::writer(baseline)?;
    let saved = match location {
        ModelLocation::Local(dir) => {
            if promote { writer.write(dir) } else { writer.write_unpromoted(dir) }.map_err(anyhow::Error::new)
        }
        ModelLocation::S3 { bucket, prefix } => with_s3(bucket, prefix, async |m| m.save(&writer, promote).await),
    };
    saved.with_context(|| format!("writing the model to {location}"))
}

/// Verifies version `id` at `location` and points `CURRENT` at it.
pub fn promote(location: &ModelLocation, id: &str) -> Result<Manifest> {
    let promoted = match location {
        ModelLocation::Local(dir) => artifact::promote(dir, id).map_err(anyhow::Error::new),
        ModelLocation::S3 { bucket, prefix } => with_s3(bucket, prefix, async |m| m.promote(id).await),
    };
    promoted.with_context(|| format!("refusing to promote {id} in {location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let s3 = |b: &str, p: &str| ModelLocation::S3 { bucket: b.into(), prefix: p.into() };
        assert_eq!(parse_model_arg("s3://models/prod").unwrap(), s3("models", "prod/"));
        assert_eq!(parse_model_arg("s3://models/prod/").unwrap(), s3("models", "prod/"));
        assert_eq!(parse_model_arg("s3://models").unwrap(), s3("models", ""));
        assert_eq!(parse_model_arg("s3://models/prod").unwrap().to_string(), "s3://models/prod/");
        assert_eq!(
            parse_model_arg("s3://models/prod").unwrap().version("fh-0123456789abcdef"),
            s3("models", "prod/fh-0123456789abcdef/")
        );
        assert!(parse_model_arg("s3://Bad_Bucket/x").is_err());
        assert!(parse_model_arg("").is_err());
        assert_eq!(
            ModelLocation::parse("m", Some(Path::new("/etc/fh"))).unwrap(),
            ModelLocation::Local("/etc/fh/m".into())
        );
        assert_eq!(ModelLocation::parse("/abs", Some(Path::new("/etc"))).unwrap(), ModelLocation::Local("/abs".into()));
    }
}

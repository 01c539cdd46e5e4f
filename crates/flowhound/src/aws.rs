//! The binary's bridge to `flowhound-aws`: a tokio runtime created only for commands
//! that talk to AWS, and blocking wrappers over the async clients. The pure crates stay
//! synchronous; the runtime lives as long as the value that owns it.

use anyhow::{Context, Result};
use flowhound_aws::s3::{Listing, S3Client, S3Error, S3Opener, S3Options, S3Url};
use flowhound_aws::{AwsOptions, load_config};

use crate::UsageError;

/// A multi-threaded runtime for AWS I/O (network only: parsing stays on rayon's pool).
pub fn aws_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("flowhound-aws")
        .enable_all()
        .build()
        .context("cannot start the AWS I/O runtime")
}

/// Maps an S3 error to the binary's error kinds: a missing bucket or a bad URL is a
/// usage error (exit 2), anything else a runtime failure (exit 1).
pub fn s3_error(err: S3Error) -> anyhow::Error {
    if err.is_usage() { UsageError(err.to_string()).into() } else { anyhow::Error::new(err) }
}

/// Reads a small text file (labels, a configuration, a safelist): a local path or
/// `s3://bucket/key` (at most 64 MiB). A missing or unreadable file is a usage error.
pub fn read_text(location: &str) -> Result<String> {
    let bytes = if location.starts_with("s3://") {
        S3Remote::connect()?.get_bytes(location, 64 << 20)?
    } else {
        std::fs::read(location).map_err(|e| UsageError(format!("{location}: {e}")))?
    };
    String::from_utf8(bytes).map_err(|_| UsageError(format!("{location}: not UTF-8 text")).into())
}

/// S3 access for `s3://` SOURCEs: listing, and the opener the reader uses.
#[derive(Debug)]
pub struct S3Remote {
    runtime: tokio::runtime::Runtime,
    client: S3Client,
    opener: S3Opener,
}

impl S3Remote {
    /// Loads the standard AWS configuration (credentials chain, region, `AWS_ENDPOINT_URL*`).
    pub fn connect() -> Result<S3Remote> {
        let runtime = aws_runtime()?;
        let config = runtime.block_on(load_config(&AwsOptions::default()));
        let client = S3Client::new(&config, S3Options::default());
        let opener = S3Opener::new(client.clone(), runtime.handle().clone());
        Ok(S3Remote { runtime, client, opener })
    }

    /// Lists the objects below `url` that may hold records with `start` in `[from, to)`.
    pub fn list(&self, url: &S3Url, from: Option<u64>, to: Option<u64>) -> Result<Listing> {
        self.runtime.block_on(self.client.list(url, from, to)).map_err(s3_error)
    }

    /// Reads an object whole, refusing one larger than `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>> {
        let (bucket, key) = flowhound_aws::s3::split_object_url(url)
            .ok_or_else(|| UsageError(format!("{url}: expected s3://bucket/key")))?;
        let bytes = self.runtime.block_on(self.client.get_bytes(bucket, key, limit)).map_err(s3_error)?;
        bytes.ok_or_else(|| UsageError(format!("{url}: object does not exist")).into())
    }

    /// Writes an object whole (a single PutObject: at most 5 GB).
    pub fn put_bytes(&self, url: &str, bytes: Vec<u8>) -> Result<()> {
        let (bucket, key) = flowhound_aws::s3::split_object_url(url)
            .ok_or_else(|| UsageError(format!("{url}: expected s3://bucket/key")))?;
        self.runtime.block_on(self.client.put_bytes(bucket, key, bytes, "application/octet-stream")).map_err(s3_error)
    }

    /// The `s3://` URLs of the objects below `prefix` (an `s3://bucket/prefix/` URL) ending
    /// with `suffix`.
    pub fn list_keys(&self, prefix: &str, suffix: &str) -> Result<Vec<String>> {
        let url = S3Url::parse(prefix).map_err(s3_error)?;
        let keys = self.runtime.block_on(self.client.list_keys(&url.bucket, &url.prefix, suffix)).map_err(s3_error)?;
        Ok(keys.into_iter().map(|k| flowhound_aws::s3::object_url(&url.bucket, &k)).collect())
    }

    pub fn opener(&self) -> &S3Opener {
        &self.opener
    }
}

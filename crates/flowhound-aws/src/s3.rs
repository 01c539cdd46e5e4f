//! `s3://bucket/prefix` sources: listing with date pruning by the AWS key layout, and
//! streaming `GetObject` exposed to the synchronous reader.
//!
//! Listing: when a `--from/--to` range is given and the prefix is at or above the region
//! folder of the layout (`…/AWSLogs/`, `…/AWSLogs/<account>/`, `…/vpcflowlogs/`,
//! `…/vpcflowlogs/<region>/`, or their Hive forms), the account/service/region folders
//! are walked with delimiter listings and only the day folders that can hold records in
//! range are listed. Every listed key is then filtered with
//! [`flowhound_flowlog::KeyInfo::may_overlap`]. Other prefixes are listed flat and filtered.
//!
//! Reading: a tokio task streams the body into a bounded channel of chunks (memory per
//! object stays at `chunk_queue` chunks) and [`ObjectReader`] reads it as a
//! [`std::io::Read`] on a blocking thread. A body that breaks mid-stream is resumed with
//! a ranged `GetObject` pinned to the first response's ETag (`If-Match`), so a changed
//! object is an error, never a silent mix.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use flowhound_flowlog::time::civil_from_days;
use flowhound_flowlog::{KeyInfo, Location, MAX_START_BEFORE_BUCKET_SECS, ObjectRef, RemoteOpener, is_flow_log_name};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::retry::{self, Decision, Failure, RetryPolicy};

/// Most day folders listed one by one; longer ranges are listed flat and filtered.
pub const MAX_DAY_PREFIXES: i64 = 1_100;

/// Errors of the S3 source; each names the bucket and, where there is one, the key.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{url}: not an S3 URL ({reason}); expected s3://bucket/prefix")]
    BadUrl { url: String, reason: &'static str },
    #[error("s3://{bucket}: bucket does not exist")]
    NoSuchBucket { bucket: String },
    #[error("s3://{bucket}/{key}: object does not exist")]
    NoSuchKey { bucket: String, key: String },
    #[error("s3://{bucket}/{key}: access denied ({code})")]
    AccessDenied { bucket: String, key: String, code: String },
    #[error("s3://{bucket}/{key}: object changed while it was being read")]
    Changed { bucket: String, key: String },
    #[error("s3://{bucket}/{key}: {operation} failed: {message}")]
    Request { bucket: String, key: String, operation: &'static str, code: Option<String>, message: String },
    #[error("s3://{bucket}/{key}: body read failed after {attempts} attempt(s) at byte {offset}: {message}")]
    Body { bucket: String, key: String, offset: u64, attempts: u32, message: String },
}

impl S3Error {
    pub fn bucket(&self) -> Option<&str> {
        match self {
            S3Error::BadUrl { .. } => None,
            S3Error::NoSuchBucket { bucket }
            | S3Error::NoSuchKey { bucket, .. }
            | S3Error::AccessDenied { bucket, .. }
            | S3Error::Changed { bucket, .. }
            | S3Error::Request { bucket, .. }
            | S3Error::Body { bucket, .. } => Some(bucket),
        }
    }

    /// True when the error is about the request itself (missing bucket, bad URL), not
    /// a runtime failure: the binary maps these to the usage exit code.
    pub fn is_usage(&self) -> bool {
        matches!(self, S3Error::BadUrl { .. } | S3Error::NoSuchBucket { .. })
    }
}

/// A parsed `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

impl S3Url {
    pub fn parse(url: &str) -> Result<S3Url, S3Error> {
        let bad = |reason| S3Error::BadUrl { url: url.to_string(), reason };
        let rest = url.strip_prefix("s3://").ok_or_else(|| bad("missing s3:// scheme"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("empty bucket name"));
        }
        let valid = bucket.len() <= 255
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !valid {
            return Err(bad("invalid bucket name"));
        }
        Ok(S3Url { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }
}

/// `s3://bucket/key`, the name of an object in reports and in [`ObjectRef`]s.
pub fn object_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Splits `s3://bucket/key` into bucket and key (the key is taken verbatim).
pub fn split_object_url(url: &str) -> Option<(&str, &str)> {
    let (bucket, key) = url.strip_prefix("s3://")?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
}

impl S3Object {
    pub fn url(&self) -> String {
        object_url(&self.bucket, &self.key)
    }

    /// The reader's view of the object ([`Location::Remote`], key layout parsed).
    pub fn to_object_ref(&self) -> ObjectRef {
        ObjectRef::remote(self.url(), self.size)
    }
}

/// The objects below a prefix that may hold records in the range.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Sorted by key.
    pub objects: Vec<S3Object>,
    /// Listed objects dropped by their key's date (objects in day folders that were not
    /// listed at all are not counted).
    pub pruned: u64,
    /// Day folders listed one by one (0 when listed flat).
    pub day_prefixes: u64,
}

/// Where a prefix stands in the AWS key layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixLevel {
    /// Above the region folder: `levels` more folder levels (account, service, region)
    /// lead to it. `dir` is the prefix as a folder (ending in `/`).
    Above { dir: String, levels: usize },
    /// Exactly the region folder: day folders can be listed one by one.
    Region { dir: String, hive: bool },
    /// Anywhere else (inside a day, or not the layout): list flat and filter.
    Other,
}

/// Places a prefix in the AWS key layout (pure).
pub fn prefix_level(prefix: &str) -> PrefixLevel {
    let dir = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    let segments: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let Some(at) = segments.iter().rposition(|s| *s == "AWSLogs") else { return PrefixLevel::Other };
    let after = &segments[at + 1..];
    let account_ok = |s: &str| {
        let digits = s.strip_prefix("aws-account-id=").unwrap_or(s);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    let service_ok = |s: &str| s.strip_prefix("aws-service=").unwrap_or(s) == "vpcflowlogs";
    let region_ok = |s: &str| {
        let r = s.strip_prefix("aws-region=").unwrap_or(s);
        !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match after {
        [] => PrefixLevel::Above { dir, levels: 3 },
        [a] if account_ok(a) => PrefixLevel::Above { dir, levels: 2 },
        [a, s] if account_ok(a) && service_ok(s) => PrefixLevel::Above { dir, levels: 1 },
        [a, s, r] if account_ok(a) && service_ok(s) && region_ok(r) => {
            PrefixLevel::Region { hive: r.starts_with("aws-region="), dir }
        }
        _ => PrefixLevel::Other,
    }
}

/// Is `child` (a common prefix one level below a layout folder) worth descending into
/// at the given remaining depth? Prunes other services (e.g. `elasticloadbalancing/`).
fn descend_into(child_segment: &str, levels_left: usize) -> bool {
    match levels_left {
        // below AWSLogs/: an account folder
        3 => {
            let d = child_segment.strip_prefix("aws-account-id=").unwrap_or(child_segment);
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
        }
        // below the account: the service folder
        2 => child_segment.strip_prefix("aws-service=").unwrap_or(child_segment) == "vpcflowlogs",
        _ => true,
    }
}

/// The day folders below a region folder that can hold objects with records whose
/// `start` is in `[from, to)`, or `None` when the range is too long to list day by day.
pub fn day_prefixes(region_dir: &str, hive: bool, from: u64, to: u64) -> Option<Vec<String>> {
    if to <= from {
        return Some(Vec::new());
    }
    // An object of day D holds record ends in [D, D+1 day); it may hold a start in range
    // only if D+1 day > from and D - slack < to (the rule of KeyInfo::may_overlap).
    let first = (from / 86_400) as i64;
    let last = ((to - 1 + MAX_START_BEFORE_BUCKET_SECS) / 86_400) as i64;
    if last - first + 1 > MAX_DAY_PREFIXES {
        return None;
    }
    Some(
        (first..=last)
            .map(|day| {
                let (y, m, d) = civil_from_days(day);
                if hive {
                    format!("{region_dir}year={y:04}/month={m:02}/day={d:02}/")
                } else {
                    format!("{region_dir}{y:04}/{m:02}/{d:02}/")
                }
            })
            .collect(),
    )
}

/// Tuning of the S3 source.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub retry: RetryPolicy,
    /// List requests in flight at once (day folders).
    pub list_concurrency: usize,
    /// Objects downloaded at once, over every reader of this client.
    pub get_concurrency: usize,
    /// Body chunks buffered per object between the download task and the reader.
    pub chunk_queue: usize,
    /// A body that yields nothing for this long is treated as a broken connection.
    pub idle_timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            retry: RetryPolicy::default(),
            list_concurrency: 8,
            get_concurrency: 16,
            chunk_queue: 16,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// An S3 client for flow-log sources.
#[derive(Debug, Clone)]
pub struct S3Client {
    client: aws_sdk_s3::Client,
    opts: Arc<S3Options>,
    gets: Arc<Semaphore>,
}

impl S3Client {
    /// Path-style addressing is used when a custom S3 endpoint is configured.
    pub fn new(config: &SdkConfig, opts: S3Options) -> S3Client {
        let conf = aws_sdk_s3::config::Builder::from(config).force_path_style(crate::has_custom_s3_endpoint(config));
        S3Client::from_client(aws_sdk_s3::Client::from_conf(conf.build()), opts)
    }

    pub fn from_client(client: aws_sdk_s3::Client, opts: S3Options) -> S3Client {
        let gets = Arc::new(Semaphore::new(opts.get_concurrency.max(1)));
        S3Client { client, opts: Arc::new(opts), gets }
    }

    /// The SDK client, for operations this crate does not wrap.
    pub fn sdk(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Lists the flow-log objects below `url` that may hold records with `start` in
    /// `[from, to)`.
    pub async fn list(&self, url: &S3Url, from: Option<u64>, to: Option<u64>) -> Result<Listing, S3Error> {
        let bucket = url.bucket.as_str();
        let mut listing = Listing::default();
        let mut objects = Vec::new();
        let ranged = from.is_some() || to.is_some();
        let mut flat = Vec::new();
        match (ranged, prefix_level(&url.prefix)) {
            (true, PrefixLevel::Above { dir, levels }) => {
                let mut frontier = vec![dir];
                for left in (1..=levels).rev() {
                    let mut next = Vec::new();
                    for dir in &frontier {
                        let (found, children) = self.list_prefix(bucket, dir, true).await?;
                        objects.extend(found);
                        for child in children {
                            let segment = child[dir.len()..].trim_end_matches('/');
                            if descend_into(segment, left) {
                                next.push(child);
                            }
                        }
                    }
                    frontier = next;
                }
                for region_dir in frontier {
                    let hive =
                        region_dir.trim_end_matches('/').rsplit('/').next().unwrap_or("").starts_with("aws-region=");
                    self.list_region(bucket, &region_dir, hive, from, to, &mut objects, &mut flat, &mut listing)
                        .await?;
                }
            }
            (true, PrefixLevel::Region { dir, hive }) => {
                self.list_region(bucket, &dir, hive, from, to, &mut objects, &mut flat, &mut listing).await?;
            }
            _ => flat.push(url.prefix.clone()),
        }
        for prefix in flat {
            let (found, _) = self.list_prefix(bucket, &prefix, false).await?;
            objects.extend(found);
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.dedup_by(|a, b| a.key == b.key);
        let before = objects.len();
        objects.retain(|o| KeyInfo::parse(&o.key).is_none_or(|k| k.may_overlap(from, to)));
        listing.pruned = (before - objects.len()) as u64;
        listing.objects = objects;
        tracing::debug!(
            bucket,
            prefix = %url.prefix,
            objects = listing.objects.len(),
            pruned = listing.pruned,
            day_prefixes = listing.day_prefixes,
            "s3 listing done"
        );
        Ok(listing)
    }

    #[allow(clippy::too_many_arguments)]
    async fn list_region(
        &self,
        bucket: &str,
        region_dir: &str,
        hive: bool,
        from: Option<u64>,
        to: Option<u64>,
        objects: &mut Vec<S3Object>,
        flat: &mut Vec<String>,
        listing: &mut Listing,
    ) -> Result<(), S3Error> {
        let days = match (from, to) {
            (Some(f), Some(t)) => day_prefixes(region_dir, hive, f, t),
            _ => None,
        };
        let Some(days) = days else {
            flat.push(region_dir.to_string());
            return Ok(());
        };
        listing.day_prefixes += days.len() as u64;
        let limit = Arc::new(Semaphore::new(self.opts.list_concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for day in days {
            let this = self.clone();
            let bucket = bucket.to_string();
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                this.list_prefix(&bucket, &day, false).await.map(|(found, _)| found)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(found) => objects.extend(found?),
                Err(join) => {
                    return Err(S3Error::Request {
                        bucket: bucket.to_string(),
                        key: region_dir.to_string(),
                        operation: "ListObjectsV2",
                        code: None,
                        message: format!("listing task failed: {join}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The keys below `prefix` ending with `suffix` (all pages, sorted): the feature-state
    /// files of a partitioned run.
    pub async fn list_keys(&self, bucket: &str, prefix: &str, suffix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(bucket, prefix, false, token.take()).await?;
            keys.extend(
                page.contents().iter().filter_map(|o| o.key()).filter(|k| k.ends_with(suffix)).map(str::to_string),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Every flow-log object below `prefix` (all pages), and with `delimited` the common
    /// prefixes one level below it.
    async fn list_prefix(
        &self,
        bucket: &str,
        prefix: &str,
        delimited: bool,
    ) -> Result<(Vec<S3Object>, Vec<String>), S3Error> {
        let mut objects = Vec::new();
        let mut children = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(bucket, prefix, delimited, token.take()).await?;
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                if key.ends_with('/') || !is_flow_log_name(key) {
                    continue;
                }
                objects.push(S3Object {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    size: obj.size().and_then(|s| u64::try_from(s).ok()),
                    etag: obj.e_tag().map(str::to_string),
                });
            }
            children.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)));
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok((objects, children))
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimited: bool,
        token: Option<String>,
    ) -> Result<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output, S3Error> {
        let result = retry::with_retries(&self.opts.retry, "s3 list", retry::failure_of, || {
            let mut request = self.client.list_objects_v2().bucket(bucket).prefix(prefix);
            if delimited {
                request = request.delimiter("/");
            }
            if let Some(token) = &token {
                request = request.continuation_token(token);
            }
            request.send()
        })
        .await;
        result.map_err(|err| sdk_error(bucket, prefix, "ListObjectsV2", &err))
    }

    /// Starts streaming an object; fails (with bucket and key) when the first request
    /// fails. The body then flows through a bounded queue into the returned reader.
    pub async fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, S3Error> {
        let (first_tx, first_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(self.opts.chunk_queue.max(1));
        let this = self.clone();
        let (b, k) = (bucket.to_string(), key.to_string());
        tokio::spawn(async move { this.feed(b, k, first_tx, tx).await });
        match first_rx.await {
            Ok(Ok(())) => {
                Ok(ObjectReader { rx, current: Bytes::new(), state: ReaderState::Open, url: object_url(bucket, key) })
            }
            Ok(Err(err)) => Err(err),
            Err(_) => Err(S3Error::Request {
                bucket: bucket.to_string(),
                key: key.to_string(),
                operation: "GetObject",
                code: None,
                message: "download task ended before the response".into(),
            }),
        }
    }

    /// Reads a small object whole (a model file, a pointer): `Ok(None)` when it does not
    /// exist, an error when it is larger than `limit` bytes (read no further).
    pub async fn get_bytes(&self, bucket: &str, key: &str, limit: u64) -> Result<Option<Vec<u8>>, S3Error> {
        let response = match self.get(bucket, key, 0, None).await {
            Ok(r) => r,
            Err(S3Error::NoSuchKey { .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let too_large = |size: u64| S3Error::Request {
            bucket: bucket.to_string(),
            key: key.to_string(),
            operation: "GetObject",
            code: None,
            message: format!("object is larger than the {limit} bytes expected (at least {size})"),
        };
        let declared = response.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if declared > limit {
            return Err(too_large(declared));
        }
        let mut body = response.body;
        let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| S3Error::Body {
                bucket: bucket.to_string(),
                key: key.to_string(),
                offset: bytes.len() as u64,
                attempts: 1,
                message: err.to_string(),
            })?;
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large((bytes.len() + chunk.len()) as u64));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// Writes an object whole (retried like every request).
    pub async fn put_bytes(&self, bucket: &str, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), S3Error> {
        let bytes = Bytes::from(bytes);
        let result = retry::with_retries(&self.opts.retry, "s3 put", retry::failure_of, || {
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(bytes.clone()))
                .send()
        })
        .await;
        result.map(|_| ()).map_err(|err| sdk_error(bucket, key, "PutObject", &err))
    }

    async fn get(&self, bucket: &str, key: &str, offset: u64, etag: Option<&str>) -> Result<GetObjectOutput, S3Error> {
        let result = retry::with_retries(&self.opts.retry, "s3 get", retry::failure_of, || {
            let mut request = self.client.get_object().bucket(bucket).key(key);
            if offset > 0 {
                request = request.range(format!("bytes={offset}-"));
            }
            if let Some(etag) = etag {
                request = request.if_match(etag);
            }
            request.send()
        })
        .await;
        result.map_err(|err| {
            if retry::http_status(&err) == Some(412) {
                S3Error::Changed { bucket: bucket.to_string(), key: key.to_string() }
            } else {
                sdk_error(bucket, key, "GetObject", &err)
            }
        })
    }

    async fn feed(
        self,
        bucket: String,
        key: String,
        first: oneshot::Sender<Result<(), S3Error>>,
        tx: mpsc::Sender<Chunk>,
    ) {
        let Ok(_permit) = Arc::clone(&self.gets).acquire_owned().await else { return };
        let response = match self.get(&bucket, &key, 0, None).await {
            Ok(r) => r,
            Err(err) => {
                let _ = first.send(Err(err));
                return;
            }
        };
        if first.send(Ok(())).is_err() {
            return;
        }
        let etag = response.e_tag().map(str::to_string);
        let mut body: ByteStream = response.body;
        let mut offset = 0u64;
        let mut failures = 0u32;
        loop {
            let next = tokio::time::timeout(self.opts.idle_timeout, body.next()).await;
            let message = match next {
                Ok(Some(Ok(bytes))) => {
                    offset += bytes.len() as u64;
                    failures = 0;
                    if tx.send(Chunk::Data(bytes)).await.is_err() {
                        return; // the reader is gone: stop downloading
                    }
                    continue;
                }
                Ok(None) => {
                    let _ = tx.send(Chunk::End).await;
                    return;
                }
                Ok(Some(Err(err))) => err.to_string(),
                Err(_) => format!("no data for {} s", self.opts.idle_timeout.as_secs()),
            };
            failures += 1;
            let give_up = |message: String| S3Error::Body {
                bucket: bucket.clone(),
                key: key.clone(),
                offset,
                attempts: failures,
                message,
            };
            if failures >= self.opts.retry.max_attempts {
                let _ = tx.send(Chunk::Failed(give_up(message))).await;
                return;
            }
            let delay = retry::backoff(&self.opts.retry, Decision::Retry, failures, fastrand::f64());
            tracing::info!(bucket, key, offset, attempt = failures, error = %message, "resuming s3 body");
            tokio::time::sleep(delay).await;
            match self.get(&bucket, &key, offset, etag.as_deref()).await {
                Ok(resumed) => body = resumed.body,
                Err(err) => {
                    let _ = tx.send(Chunk::Failed(err)).await;
                    return;
                }
            }
        }
    }
}

fn sdk_error<E>(
    bucket: &str,
    key: &str,
    operation: &'static str,
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> S3Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = retry::error_code(err);
    let (bucket, key) = (bucket.to_string(), key.to_string());
    match code.as_deref() {
        Some("NoSuchBucket") => S3Error::NoSuchBucket { bucket },
        Some("NoSuchKey") => S3Error::NoSuchKey { bucket, key },
        Some(c @ ("AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId" | "SignatureDoesNotMatch")) => {
            S3Error::AccessDenied { bucket, key, code: c.to_string() }
        }
        _ => {
            let message = match (retry::failure_of(err), retry::http_status(err)) {
                (Failure::Service { .. }, Some(status)) => {
                    format!("HTTP {status} {}", code.as_deref().unwrap_or("(no error code)"))
                }
                _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
            };
            S3Error::Request { bucket, key, operation, code, message }
        }
    }
}

enum Chunk {
    Data(Bytes),
    End,
    Failed(S3Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Open,
    Done,
}

/// The body of one object as a blocking [`Read`]. Use it on a thread outside the tokio
/// runtime's workers (rayon, `spawn_blocking`). Dropping it stops the download.
pub struct ObjectReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    state: ReaderState,
    url: String,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader").field("url", &self.url).field("state", &self.state).finish()
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.current.is_empty() {
                let n = buf.len().min(self.current.len());
                buf[..n].copy_from_slice(&self.current.split_to(n));
                return Ok(n);
            }
            if self.state == ReaderState::Done || buf.is_empty() {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(bytes)) => self.current = bytes,
                Some(Chunk::End) => self.state = ReaderState::Done,
                Some(Chunk::Failed(err)) => {
                    self.state = ReaderState::Done;
                    return Err(io::Error::other(err));
                }
                None => {
                    // The task ended without saying so (runtime shut down): never report a
                    // truncated object as complete.
                    self.state = ReaderState::Done;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{}: download stopped before the end of the object", self.url),
                    ));
                }
            }
        }
    }
}

/// Opens `s3://` objects for the synchronous reader ([`flowhound_flowlog::scan`]).
#[derive(Debug, Clone)]
pub struct S3Opener {
    client: S3Client,
    handle: tokio::runtime::Handle,
}

impl S3Opener {
    /// `handle` is the runtime the downloads run on; `open` must be called from threads
    /// that are not its workers.
    pub fn new(client: S3Client, handle: tokio::runtime::Handle) -> S3Opener {
        S3Opener { client, handle }
    }
}

impl RemoteOpener for S3Opener {
    fn open(&self, object: &ObjectRef) -> io::Result<Box<dyn Read + Send>> {
        let Location::Remote { url } = &object.location else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a remote object", object.name)));
        };
        let Some((bucket, key)) = split_object_url(url) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: not an s3://bucket/key URL")));
        };
        let reader = self.handle.block_on(self.client.open(bucket, key)).map_err(io::Error::other)?;
        Ok(Box::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(S3Url::parse("s3://b/p/q/").unwrap(), S3Url { bucket: "b".into(), prefix: "p/q/".into() });
        assert_eq!(S3Url::parse("s3://bucket").unwrap(), S3Url { bucket: "bucket".into(), prefix: String::new() });
        assert!(S3Url::parse("s3:///x").is_err());
        assert!(S3Url::parse("http://b/x").is_err());
        assert!(S3Url::parse("s3://Bad_Bucket!/x").is_err());
        assert_eq!(split_object_url("s3://b/a/b c.log.gz"), Some(("b", "a/b c.log.gz")));
        assert_eq!(split_object_url("s3://b/"), None);
    }

    #[test]
    fn prefix_levels() {
        assert_eq!(prefix_level("AWSLogs/"), PrefixLevel::Above { dir: "AWSLogs/".into(), levels: 3 });
        assert_eq!(prefix_level("x/AWSLogs"), PrefixLevel::Above { dir: "x/AWSLogs/".into(), levels: 3 });
        assert_eq!(
            prefix_level("AWSLogs/123456789012/"),
            PrefixLevel::Above { dir: "AWSLogs/123456789012/".into(), levels: 2 }
        );
        assert_eq!(
            prefix_level("AWSLogs/123456789012/vpcflowlogs"),
            PrefixLevel::Above { dir: "AWSLogs/123456789012/vpcflowlogs/".into(), levels: 1 }
        );
        assert_eq!(
            prefix_level("v/AWSLogs/123456789012/vpcflowlogs/us-east-1/"),
            PrefixLevel::Region { dir: "v/AWSLogs/123456789012/vpcflowlogs/us-east-1/".into(), hive: false }
        );
        assert_eq!(
            prefix_level("AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/"),
            PrefixLevel::Region {
                dir: "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/".into(),
                hive: true
            }
        );
        assert_eq!(prefix_level("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/"), PrefixLevel::Other);
        assert_eq!(prefix_level("AWSLogs/123456789012/elasticloadbalancing/"), PrefixLevel::Other);
        assert_eq!(prefix_level(""), PrefixLevel::Other);
        assert_eq!(prefix_level("logs/"), PrefixLevel::Other);
        assert!(descend_into("123456789012", 3));
        assert!(!descend_into("notes", 3));
        assert!(descend_into("aws-service=vpcflowlogs", 2));
        assert!(!descend_into("elasticloadbalancing", 2));
    }

    #[test]
    fn day_prefixes_cover_the_slack() {
        // 2026-11-20T00:00Z = 1795132800
        let day = 1_795_132_800;
        let days = day_prefixes("A/", false, day + 3600, day + 7200).unwrap();
        assert_eq!(days, vec!["A/2026/11/20/"]);
        // A range ending at midnight still needs the next day (records start up to an
        // hour before their object's end bucket).
        let days = day_prefixes("A/", false, day, day + 86_400).unwrap();
        assert_eq!(days, vec!["A/2026/11/20/", "A/2026/11/21/"]);
        let days = day_prefixes("A/", true, day - 1, day + 10).unwrap();
        assert_eq!(days, vec!["A/year=2026/month=11/day=19/", "A/year=2026/month=11/day=20/"]);
        assert_eq!(day_prefixes("A/", false, day, day), Some(vec![]));
        assert_eq!(day_prefixes("A/", false, 0, day), None);
    }

    #[test]
    fn day_prefixes_never_miss_an_object_the_filter_keeps() {
        let base = 1_795_132_800u64;
        for (from, to) in [(base + 500, base + 90_000), (base + 86_399, base + 86_401), (base + 7, base + 3_000)] {
            let region = "AWSLogs/123456789012/vpcflowlogs/r/";
            let days = day_prefixes(region, false, from, to).unwrap();
            for offset in (0..5 * 86_400).step_by(300) {
                let t = base - 86_400 + offset;
                let (y, m, d) = civil_from_days((t / 86_400) as i64);
                let (hh, mm) = ((t % 86_400) / 3600, (t % 3600) / 60);
                let folder = format!("{region}{y:04}/{m:02}/{d:02}/");
                let key =
                    format!("{folder}123456789012_vpcflowlogs_r_fl-1_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_h.log.gz");
                let info = KeyInfo::parse(&key).unwrap();
                assert_eq!(info.file_time, Some(t));
                if info.may_overlap(Some(from), Some(to)) {
                    assert!(days.contains(&folder), "{key} kept by the filter but its day is not listed");
                }
            }
        }
    }

    #[test]
    fn reader_reports_truncation_and_errors() {
        let (tx, rx) = mpsc::channel(4);
        let mut reader = ObjectReader { rx, current: Bytes::new(), state: ReaderState::Open, url: "s3://b/k".into() };
        tx.try_send(Chunk::Data(Bytes::from_static(b"hello "))).unwrap();
        tx.try_send(Chunk::Data(Bytes::from_static(b"world"))).unwrap();
        tx.try_send(Chunk::End).unwrap();
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");

        let (tx, rx) = mpsc::channel(4);
        let mut reader = ObjectReader { rx, current: Bytes::new(), state: ReaderState::Open, url: "s3://b/k".into() };
        tx.try_send(Chunk::Data(Bytes::from_static(b"part"))).unwrap();
        drop(tx);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("s3://b/k"));

        let (tx, rx) = mpsc::channel(4);
        let mut reader = ObjectReader { rx, current: Bytes::new(), state: ReaderState::Open, url: "s3://b/k".into() };
        tx.try_send(Chunk::Failed(S3Error::Changed { bucket: "b".into(), key: "k".into() })).unwrap();
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("s3://b/k: object changed"), "{err}");
    }
}

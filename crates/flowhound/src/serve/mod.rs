//! `flowhound serve`: the production loop (docs/serve.md).
//!
//! One cycle: long-poll SQS → skip objects already in the ledger → read the new objects
//! in parallel on rayon (off the async runtime) into the rolling feature state → close
//! the windows the watermark (newest record end minus the lateness) has passed and score
//! them → append the findings → checkpoint (state, ledger, findings length, the cycle's
//! metrics) → publish the metrics → delete the messages the checkpoint covers.
//! A crash anywhere leaves messages undeleted that the last checkpoint does not cover:
//! they come back, and what was derived from them after that checkpoint is derived again.

mod checkpoint;
pub mod config;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use flowhound_aws::cloudwatch::{Metric, Publisher};
use flowhound_aws::s3::{S3Client, S3Error, S3Opener, S3Options};
use flowhound_aws::sqs::{ConsumerOptions, Notification, SqsConsumer};
use flowhound_aws::{AwsOptions, load_config};
use flowhound_features::{FeatureConfig, FeatureState, Features};
use flowhound_flowlog::{ObjectRef, ObjectReport, Partial, ReadOptions, RemoteOpener, ScanSummary, scan};
use flowhound_model::artifact::Manifest;
use flowhound_model::detect;
use flowhound_model::{Baseline, Safelist};

use crate::metrics::{self, PublishSettings, Scored, now_secs};
use crate::models::{ModelLocation, S3Models};
use checkpoint::{Checkpoint, LedgerEntry, StateDir};
use config::{FindingsOut, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration (see docs/serve.md and deploy/serve.example.toml). Without it, the
    /// whole configuration is read from the environment variable FLOWHOUND_SERVE_TOML.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Where the model is read from: a local model directory or S3.
#[derive(Debug)]
enum ModelStore {
    Local(PathBuf),
    S3(S3Models),
}

impl ModelStore {
    async fn load(&self) -> Result<(Manifest, Baseline)> {
        match self {
            ModelStore::Local(dir) => Ok(flowhound_model::artifact::load(dir)?),
            ModelStore::S3(models) => models.load().await,
        }
    }

    /// Version `id` of the model directory, verified.
    async fn load_version(&self, id: &str) -> Result<(Manifest, Baseline)> {
        match self {
            ModelStore::Local(dir) => Ok(flowhound_model::artifact::load(&dir.join(id))?),
            ModelStore::S3(models) => models.load_version_id(id).await,
        }
    }

    /// The current model's id, unverified (the cheap check for a new model).
    async fn current_id(&self) -> Result<String> {
        match self {
            ModelStore::Local(dir) => flowhound_model::artifact::current_id(dir)
                .ok_or_else(|| anyhow::anyhow!("{}: no readable model manifest", dir.display())),
            ModelStore::S3(models) => {
                models.current_id().await?.ok_or_else(|| anyhow::anyhow!("no model at {}", models.location()))
            }
        }
    }
}

/// Whether a failure to read a new model is the store's (retry at the next check) rather
/// than the model's (refuse it).
fn store_failure(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(e.downcast_ref::<S3Error>(), Some(S3Error::Request { .. } | S3Error::Body { .. }))
            || e.downcast_ref::<std::io::Error>().is_some()
    })
}

/// The model in use and how to tell a new one.
#[derive(Debug)]
struct Model {
    store: ModelStore,
    manifest: Manifest,
    baseline: Baseline,
    checked: Instant,
    /// The id of a new model that was refused: not fetched again while the pointer names it.
    refused: Option<String>,
}

impl Model {
    /// The current model; if it is refused and the checkpoint names the model that scored
    /// last (`last_id`), that version instead, so a restart while the pointer names a bad
    /// model keeps detecting (and `ModelRefused` keeps the alarm on) rather than crash-looping.
    async fn start(store: ModelStore, location: &ModelLocation, last_id: Option<&str>) -> Result<Model> {
        let err = match store.load().await {
            Ok((manifest, baseline)) => {
                tracing::info!(model = %manifest.id, location = %location, "model loaded");
                return Ok(Model { store, manifest, baseline, checked: Instant::now(), refused: None });
            }
            Err(err) => err.context(format!("refusing model {location}")),
        };
        let Some(last_id) = last_id.filter(|id| flowhound_model::artifact::is_model_id(id)) else { return Err(err) };
        let (manifest, baseline) = match store.load_version(last_id).await {
            Ok(loaded) => loaded,
            Err(fallback) => {
                tracing::error!(
                    error = format!("{fallback:#}"),
                    model = last_id,
                    "the checkpoint's model is refused too"
                );
                return Err(err);
            }
        };
        let refused = store.current_id().await.ok();
        tracing::error!(
            error = format!("{err:#}"),
            model = %manifest.id,
            "current model refused at start; scoring with the checkpoint's model until a good one is promoted"
        );
        // Checked at once: the first check publishes ModelRefused.
        let checked = Instant::now().checked_sub(Duration::from_secs(86_400)).unwrap_or_else(Instant::now);
        Ok(Model { store, manifest, baseline, checked, refused })
    }

    /// Loads a new model when the current model's id changed (`train` or `promote`
    /// repointed `CURRENT`). A model that fails verification or needs other features is
    /// refused and the current one kept; returns true while the pointer names a refused
    /// model (the `ModelRefused` metric), so its alarm stays on until the pointer is fixed.
    async fn refresh(&mut self, cfg: &ServeConfig) -> bool {
        if self.checked.elapsed() < cfg.model_check {
            return false;
        }
        self.checked = Instant::now();
        let id = match self.store.current_id().await {
            Ok(id) => id,
            Err(err) if store_failure(&err) => {
                tracing::warn!(error = format!("{err:#}"), "model pointer not read; checking again later");
                return false;
            }
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), current = %self.manifest.id, "model pointer unreadable; keeping the current model");
                return true;
            }
        };
        if id == self.manifest.id {
            self.refused = None;
            return false;
        }
        if self.refused.as_deref() == Some(id.as_str()) {
            return true;
        }
        match self.store.load().await {
            Ok((manifest, baseline)) => {
                let same_features = baseline.train.window_secs == self.baseline.train.window_secs
                    && baseline.detect.horizon_secs == self.baseline.detect.horizon_secs
                    && baseline.train.addresses == self.baseline.train.addresses;
                if same_features {
                    tracing::info!(old = %self.manifest.id, new = %manifest.id, "new model loaded");
                    self.manifest = manifest;
                    self.baseline = baseline;
                    self.refused = None;
                    false
                } else {
                    tracing::error!(
                        model = %manifest.id,
                        current = %self.manifest.id,
                        "new model refused: its window, horizon or address blocks differ from the running state's; keeping the current model (restart serve with an empty state_dir to change them)"
                    );
                    self.refused = Some(manifest.id);
                    true
                }
            }
            Err(err) if store_failure(&err) => {
                tracing::warn!(error = format!("{err:#}"), model = %id, "new model not read; trying again later");
                false
            }
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), model = %id, current = %self.manifest.id, "new model refused; keeping the current model");
                self.refused = Some(id);
                true
            }
        }
    }
}

/// Everything the loop owns.
struct Server {
    cfg: ServeConfig,
    model: Model,
    safelist: Safelist,
    feature_cfg: Arc<FeatureConfig>,
    state_dir: StateDir,
    checkpoint: Checkpoint,
    findings: Option<std::fs::File>,
    consumer: SqsConsumer,
    opener: S3Opener,
    publisher: Option<Publisher>,
    read_opts: ReadOptions,
    /// When `IngestLagSeconds` was last sent (with a cycle's metrics or alone).
    lag_published: Option<Instant>,
}

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let cfg = match &args.config {
        Some(path) => ServeConfig::read(path)?,
        None => ServeConfig::from_env()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("flowhound-serve")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let aws = runtime.block_on(load_config(&AwsOptions::default()));
    let s3 = S3Client::new(&aws, S3Options::default());
    let store = match &cfg.model {
        ModelLocation::Local(dir) => ModelStore::Local(dir.clone()),
        ModelLocation::S3 { bucket, prefix } => ModelStore::S3(S3Models::new(s3.clone(), bucket, prefix)),
    };
    let state_dir = StateDir::open(&cfg.state_dir)?;
    let saved = state_dir.load()?;
    let last_id = saved.as_ref().map(|c| c.model_id.clone());
    let model = runtime.block_on(Model::start(store, &cfg.model, last_id.as_deref()))?;
    let safelist = crate::score::read_safelist(cfg.safelist.as_deref())?;
    let given = flowhound_features::AddressBlocks { internal: cfg.internal.clone(), external: cfg.external.clone() };
    let blocks = crate::train::blocks_for_model(&model.baseline.train.addresses, given)?;
    let feature_cfg = Arc::new(crate::train::feature_config(
        model.baseline.train.window_secs,
        model.baseline.detect.horizon_secs,
        &blocks,
    )?);
    let checkpoint = match saved {
        Some(mut c) => {
            c.features = c.features.resume(Arc::clone(&feature_cfg)).context("resuming the checkpoint")?;
            tracing::info!(objects = c.ledger.len(), watermark = c.watermark, "checkpoint loaded");
            c
        }
        None => Checkpoint {
            version: checkpoint::CHECKPOINT_VERSION,
            model_id: model.manifest.id.clone(),
            features: FeatureState::new(Arc::clone(&feature_cfg)),
            watermark: 0,
            newest_end: None,
            ledger: BTreeMap::new(),
            findings_bytes: 0,
            outbox: Vec::new(),
            outbox_seq: 0,
            incidents: Default::default(),
        },
    };
    let findings = match &cfg.findings {
        FindingsOut::File(path) => Some(checkpoint::open_findings(path, checkpoint.findings_bytes)?),
        FindingsOut::Stdout => None,
    };
    let consumer = SqsConsumer::new(
        &aws,
        cfg.queue_url.clone(),
        ConsumerOptions {
            wait_time: cfg.wait,
            max_messages: cfg.max_messages,
            visibility_timeout: Some(cfg.visibility_timeout),
            ..ConsumerOptions::default()
        },
    );
    let opener = S3Opener::new(s3, runtime.handle().clone());
    let publisher = if cfg.publish {
        let settings = PublishSettings { namespace: cfg.namespace.clone(), host_score_top_n: cfg.host_score_top };
        Some(metrics::publisher(&runtime, &settings)?)
    } else {
        None
    };
    let read_opts = ReadOptions {
        max_line_bytes: cfg.max_line_bytes,
        max_decompressed_bytes: cfg.max_object_bytes,
        in_memory_gzip_bytes: cfg.in_memory_gzip_bytes,
        ..ReadOptions::default()
    };
    let mut server = Server {
        cfg,
        model,
        safelist,
        feature_cfg,
        state_dir,
        checkpoint,
        findings,
        consumer,
        opener,
        publisher,
        read_opts,
        lag_published: None,
    };
    runtime.block_on(server.serve())?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Server {
    async fn serve(&mut self) -> Result<()> {
        self.flush_outbox().await?;
        tracing::info!(queue = %self.cfg.queue_url, "serving");
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let messages = tokio::select! {
                received = self.consumer.receive() => received?,
                _ = &mut shutdown => break,
            };
            if self.model.refresh(&self.cfg).await {
                self.publish_model_refused().await;
            }
            if messages.is_empty() {
                self.publish_lag_if_due().await;
                continue;
            }
            // The batch runs to its end even if SIGTERM arrives meanwhile: its checkpoint
            // is what makes deleting the messages safe.
            let stop = {
                let cycle = self.cycle(messages);
                tokio::pin!(cycle);
                tokio::select! {
                    done = &mut cycle => { done?; false }
                    _ = &mut shutdown => { cycle.await?; true }
                }
            };
            if stop {
                break;
            }
            self.publish_lag_if_due().await;
        }
        self.checkpoint.features.settle();
        self.state_dir.save(&self.checkpoint)?;
        tracing::info!(objects = self.checkpoint.ledger.len(), "final checkpoint written; stopping");
        Ok(())
    }

    async fn cycle(&mut self, messages: Vec<flowhound_aws::sqs::ReceivedMessage>) -> Result<()> {
        let mut receipts = Vec::new();
        let mut objects: Vec<(String, Option<String>)> = Vec::new();
        let mut seen = BTreeSet::new();
        for message in &messages {
            match &message.notification {
                Ok(Notification::Objects(events)) => {
                    for event in events {
                        let url = event.url();
                        if self.checkpoint.ledger.contains_key(&url) {
                            tracing::info!(object = %url, "already processed; redelivered notification skipped");
                        } else if seen.insert(url.clone()) {
                            objects.push((url, event.etag.clone()));
                        }
                    }
                }
                Ok(Notification::Test) => tracing::debug!(message_id = %message.message_id, "s3 test event"),
                Ok(Notification::Ignored { reason }) => {
                    tracing::debug!(message_id = %message.message_id, reason = %reason, "message ignored")
                }
                Err(err) => {
                    // Left on the queue: after maxReceiveCount it moves to the dead-letter queue.
                    tracing::warn!(message_id = %message.message_id, error = %err, "unreadable message left for the dead-letter queue");
                    continue;
                }
            }
            receipts.push(message.receipt_handle.clone());
        }
        if objects.is_empty() {
            // Nothing new: whatever these messages announce is covered by a checkpoint.
            self.consumer.delete_all(&receipts).await?;
            return Ok(());
        }
        let keepers: Vec<_> =
            receipts.iter().map(|r| self.consumer.keep_invisible(r.clone(), self.cfg.visibility_timeout)).collect();
        let refs: Vec<ObjectRef> = objects.iter().map(|(url, _)| ObjectRef::remote(url.clone(), None)).collect();
        let opener = self.opener.clone();
        let opts = self.read_opts.clone();
        let cfg = Arc::clone(&self.feature_cfg);
        let (reports, partial) = tokio::task::spawn_blocking(move || {
            let remote: &dyn RemoteOpener = &opener;
            scan(&refs, Some(remote), &opts, || FeatureState::new(Arc::clone(&cfg)), &|_: &ObjectReport| {})
        })
        .await
        .context("the reading task failed")?;
        let summary = ScanSummary::from_reports(&reports, 0, 10);
        for sample in &summary.malformed_samples {
            tracing::warn!(object = %sample.object, line = sample.line, reason = %sample.reason, "malformed line skipped");
        }
        if !summary.errors.is_empty() && !self.cfg.skip_corrupt {
            // Nothing of this batch is kept; its messages come back after the visibility
            // timeout (and go to the dead-letter queue if the object stays unreadable).
            for err in &summary.errors {
                tracing::error!(error = %err, "object not read; batch not committed");
            }
            drop(keepers);
            return Ok(());
        }
        let now = now_secs();
        let c = &mut self.checkpoint;
        c.features.merge(partial);
        for (report, (url, etag)) in reports.iter().zip(&objects) {
            c.ledger.insert(
                url.clone(),
                LedgerEntry {
                    etag: etag.clone(),
                    records: report.records,
                    malformed: report.malformed,
                    processed_at: now,
                },
            );
        }
        checkpoint::prune_ledger(&mut c.ledger, now, self.cfg.ledger_retention.as_secs());
        c.newest_end = c.newest_end.max(summary.last_end);
        // Scoring is CPU work: let the runtime move its other tasks off this worker.
        let findings = tokio::task::block_in_place(|| self.close_windows(&summary, now))?;
        tracing::info!(
            objects = objects.len(),
            records = summary.records,
            malformed = summary.malformed,
            findings,
            watermark = self.checkpoint.watermark,
            "batch processed"
        );
        self.checkpoint.outbox_seq += 1;
        self.checkpoint.features.settle();
        self.state_dir.save(&self.checkpoint)?;
        self.flush_outbox().await?;
        self.consumer.delete_all(&receipts).await?;
        drop(keepers);
        Ok(())
    }

    /// Drains and scores the windows the watermark has passed, writes the incidents they
    /// open, escalate or close, and fills the outbox (metrics count opened and escalated
    /// incidents); returns the number of incidents opened or escalated.
    fn close_windows(&mut self, summary: &ScanSummary, now: u64) -> Result<usize> {
        let window = self.feature_cfg.window_secs();
        let c = &mut self.checkpoint;
        let target = c.newest_end.unwrap_or(0).saturating_sub(self.cfg.lateness.as_secs()) / window * window;
        let mut scored = Scored {
            records: summary.records,
            malformed: summary.malformed,
            records_at: now,
            at: Some(now),
            newest_end: c.newest_end,
            ..Scored::default()
        };
        let mut findings = Vec::new();
        let mut closed = Vec::new();
        if target > c.watermark {
            let drained = c.features.drain_finished(target);
            let features = Features {
                pairs: c.features.pair_series(target),
                rows: drained.rows,
                edges: drained.edges,
                stats: drained.stats,
                addresses: drained.addresses,
            };
            for row in &features.rows {
                *scored.windows.entry(row.window_start).or_default() += 1;
            }
            let result = detect::score(&self.model.baseline, &features, &self.safelist, &self.model.manifest.id);
            // Activity before the watermark was seen in earlier cycles. Of the rest, only
            // what opens an incident or raises its severity is reported; an incident that
            // goes on is folded in silently and closed once quiet (docs/serve.md).
            let fresh = result.findings.into_iter().filter(|f| f.window_end > c.watermark).collect();
            findings = c.incidents.observe(fresh);
            closed = c.incidents.close_quiet(target, self.model.baseline.detect.incident_quiet_secs);
            c.features.evict_pairs_before(target.saturating_sub(self.feature_cfg.horizon_secs()));
            c.watermark = target;
            c.model_id = self.model.manifest.id.clone();
        }
        let mut bytes = Vec::new();
        crate::score::write_findings(&mut bytes, &findings)?;
        for line in &closed {
            serde_json::to_writer(&mut bytes, line)?;
            bytes.push(b'\n');
        }
        match &mut self.findings {
            Some(file) => {
                file.write_all(&bytes).context("writing findings")?;
                file.sync_data().context("syncing findings")?;
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                out.flush()?;
            }
        }
        c.findings_bytes += bytes.len() as u64;
        c.outbox = metrics::window_metrics(&findings, &scored, now);
        Ok(findings.len())
    }

    /// Publishes the outbox unless `published.json` says it was sent.
    async fn flush_outbox(&mut self) -> Result<()> {
        let seq = self.checkpoint.outbox_seq;
        let Some(publisher) = &self.publisher else { return Ok(()) };
        if self.checkpoint.outbox.is_empty() || self.state_dir.published_seq()? >= seq {
            return Ok(());
        }
        let outbox: Vec<Metric> = self.checkpoint.outbox.clone();
        metrics::publish(publisher, outbox).await?;
        self.state_dir.mark_published(seq)?;
        self.lag_published = Some(Instant::now());
        Ok(())
    }

    /// Sends `ModelRefused`; a failure is logged (the next check sends it again while
    /// the pointer names the refused model).
    async fn publish_model_refused(&self) {
        let Some(publisher) = &self.publisher else { return };
        if let Err(err) = metrics::publish(publisher, vec![Metric::model_refused(now_secs())]).await {
            tracing::warn!(error = format!("{err:#}"), "ModelRefused not published");
        }
    }

    /// Sends `IngestLagSeconds` alone when no cycle has sent it for `lag_interval`: the
    /// lag of a stalled delivery keeps growing in CloudWatch, so its alarm fires on a
    /// real value instead of relying on missing data. A failure is logged, not fatal:
    /// the next heartbeat or cycle sends it again.
    async fn publish_lag_if_due(&mut self) {
        let (Some(publisher), Some(newest_end)) = (&self.publisher, self.checkpoint.newest_end) else { return };
        if self.lag_published.is_some_and(|at| at.elapsed() < self.cfg.lag_interval) {
            return;
        }
        let now = now_secs();
        let lag = now.saturating_sub(newest_end);
        match metrics::publish(publisher, vec![Metric::ingest_lag_seconds(lag as f64, now)]).await {
            Ok(_) => {
                tracing::debug!(lag_secs = lag, "ingest lag published while idle");
                self.lag_published = Some(Instant::now());
            }
            Err(err) => tracing::warn!(error = format!("{err:#}"), "ingest lag not published; retrying later"),
        }
    }
}

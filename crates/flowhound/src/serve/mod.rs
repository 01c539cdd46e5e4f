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
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use flowhound_aws::cloudwatch::{Metric, Publisher};
use flowhound_aws::s3::{S3Client, S3Opener, S3Options};
use flowhound_aws::sqs::{ConsumerOptions, Notification, SqsConsumer};
use flowhound_aws::{AwsOptions, load_config};
use flowhound_features::{FeatureConfig, FeatureState, Features};
use flowhound_flowlog::{ObjectRef, ObjectReport, Partial, ReadOptions, RemoteOpener, ScanSummary, scan};
use flowhound_model::artifact::Manifest;
use flowhound_model::detect;
use flowhound_model::{Baseline, Safelist};

use crate::metrics::{self, PublishSettings, Scored, now_secs};
use checkpoint::{Checkpoint, LedgerEntry, StateDir};
use config::{FindingsOut, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration (see docs/serve.md and deploy/serve.example.toml).
    #[arg(long)]
    pub config: PathBuf,
}

/// The model in use and how to tell a new one.
#[derive(Debug)]
struct Model {
    manifest: Manifest,
    baseline: Baseline,
    checked: Instant,
}

impl Model {
    fn load(cfg: &ServeConfig) -> Result<Model> {
        let (manifest, baseline) = crate::score::load_model(&cfg.model)?;
        tracing::info!(model = %manifest.id, dir = %cfg.model.display(), "model loaded");
        Ok(Model { manifest, baseline, checked: Instant::now() })
    }

    /// Loads a new model when the current model's id changed (`train` repointed `CURRENT`); a model that fails
    /// verification or needs other features is refused and the current one kept.
    fn refresh(&mut self, cfg: &ServeConfig) {
        if self.checked.elapsed() < cfg.model_check {
            return;
        }
        self.checked = Instant::now();
        let id = flowhound_model::artifact::current_id(&cfg.model);
        if id.as_deref() == Some(self.manifest.id.as_str()) {
            return;
        }
        match crate::score::load_model(&cfg.model) {
            Ok((manifest, baseline)) => {
                let same_features = baseline.train.window_secs == self.baseline.train.window_secs
                    && baseline.detect.horizon_secs == self.baseline.detect.horizon_secs
                    && baseline.train.addresses == self.baseline.train.addresses;
                if same_features {
                    tracing::info!(old = %self.manifest.id, new = %manifest.id, "new model loaded");
                    self.manifest = manifest;
                    self.baseline = baseline;
                } else {
                    tracing::error!(
                        model = %manifest.id,
                        "new model refused: its window, horizon or address blocks differ from the running state's; keeping the current model"
                    );
                }
            }
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), current = %self.manifest.id, "new model refused; keeping the current model");
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
    let cfg = ServeConfig::read(&args.config)?;
    let model = Model::load(&cfg)?;
    let safelist = crate::score::read_safelist(cfg.safelist.as_deref())?;
    let given = flowhound_features::AddressBlocks { internal: cfg.internal.clone(), external: cfg.external.clone() };
    let blocks = crate::train::blocks_for_model(&model.baseline.train.addresses, given)?;
    let feature_cfg = Arc::new(crate::train::feature_config(
        model.baseline.train.window_secs,
        model.baseline.detect.horizon_secs,
        &blocks,
    )?);
    let state_dir = StateDir::open(&cfg.state_dir)?;
    let checkpoint = match state_dir.load()? {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("flowhound-serve")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let aws = runtime.block_on(load_config(&AwsOptions::default()));
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
    let opener = S3Opener::new(S3Client::new(&aws, S3Options::default()), runtime.handle().clone());
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
            self.model.refresh(&self.cfg);
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

//! What the report shows, computed from the run itself: the findings, and for each one the
//! slice of the features that is its evidence (the pair's connections, the host's windows,
//! its internal edges) and what the baseline expected. Bounded: past the limits below a
//! plot is sampled or aggregated, and the page says so.

use std::collections::{BTreeMap, BTreeSet};

use flowhound_features::{Features, HostWindow, InternalEdge, PairSeries};
use flowhound_flowlog::Addr;
use flowhound_flowlog::time::DAY;
use flowhound_model::history::{bytes_by_window, dest_key};
use flowhound_model::{Baseline, Finding};

/// Findings that get plots; the rest are listed in the table only (they are ranked, so
/// these are the ones a hunter reads first).
pub const MAX_PLOTTED_FINDINGS: usize = 100;
/// Connections drawn in one beacon timeline; more are thinned evenly.
pub const MAX_TIMELINE_DOTS: usize = 2_000;
/// Bars of the interval histogram.
pub const INTERVAL_BINS: usize = 48;
/// Points of one volume chart; longer ranges are aggregated (each point the busiest window
/// of its span, so a spike is never averaged away).
pub const MAX_VOLUME_POINTS: usize = 600;
/// Destinations in one edge graph; new edges come first.
pub const MAX_GRAPH_DESTINATIONS: usize = 40;
/// Of those, places kept for edges the host also used in its history.
pub const GRAPH_PLACES_FOR_HISTORY: usize = 8;
/// Ports in one port chart.
pub const MAX_PORTS: usize = 16;
/// Half-width of the baseline band in robust standard deviations.
pub const BAND_SIGMAS: f64 = 2.0;

/// The run a report describes.
pub struct Run<'a> {
    /// The command that produced it (`hunt`, `score`, `demo`).
    pub command: &'static str,
    pub sources: &'a [String],
    pub records: u64,
    pub malformed: u64,
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// The model's id, or `None` for a self-baseline hunt.
    pub model: Option<&'a str>,
    /// The model's baseline, or the self-baseline a hunt fitted on the hunted data.
    pub baseline: &'a Baseline,
    pub features: &'a Features,
    /// Ranked, best first.
    pub findings: &'a [Finding],
}

/// Everything the page shows.
pub struct Page<'a> {
    pub run: &'a Run<'a>,
    pub hosts: usize,
    pub windows: usize,
    pub entries: Vec<Entry<'a>>,
    /// Hosts with findings, best score first.
    pub host_index: Vec<HostIndex>,
}

/// One finding and its evidence.
pub struct Entry<'a> {
    /// 1-based rank: the anchor `#f{rank}`.
    pub rank: usize,
    pub finding: &'a Finding,
    pub evidence: Evidence,
}

pub struct HostIndex {
    pub host: String,
    pub best: f64,
    /// Ranks of its findings.
    pub findings: Vec<usize>,
}

pub enum Evidence {
    Beacon(BeaconPlot),
    Volume(VolumePlot),
    Edges(EdgePlot),
    /// Why there is no plot.
    None(String),
}

pub struct BeaconPlot {
    pub from: u64,
    pub to: u64,
    /// (start, bytes) of each drawn connection.
    pub events: Vec<(u64, u64)>,
    pub intervals: Histogram,
    pub period: Option<f64>,
    /// Relative (0.05 = ±5 %).
    pub jitter: Option<f64>,
    pub notes: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct Histogram {
    pub bin_secs: f64,
    pub counts: Vec<u64>,
    /// Intervals longer than the last bin.
    pub beyond: u64,
    pub total: u64,
}

pub struct VolumePlot {
    pub window_secs: u64,
    /// Span of one point: the window, or several when aggregated.
    pub step_secs: u64,
    pub points: Vec<VolumePoint>,
    /// The finding's span.
    pub mark: (u64, u64),
    pub destination: Option<String>,
    /// Of the host's external bytes within the finding's span, the share that went to the
    /// destination.
    pub destination_share: Option<f64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumePoint {
    pub t: u64,
    /// Bytes out to external destinations other than AWS services: the quantity of the
    /// band.
    pub host_bytes: u64,
    /// Bytes out to AWS services.
    pub host_bytes_aws: u64,
    /// Bytes out to the finding's destination.
    pub dest_bytes: u64,
    /// The host's usual non-AWS external bytes at that hour: median ∓ [`BAND_SIGMAS`].
    pub band: Option<(f64, f64)>,
    /// The peer group's median at that hour.
    pub group_median: Option<f64>,
}

pub struct EdgePlot {
    pub host: String,
    /// The finding's own destination, drawn heavier.
    pub peer: Option<String>,
    pub edges: Vec<EdgeView>,
    pub ports: Vec<PortView>,
    /// What "training" means here: the model's training period or the other days hunted.
    pub history: &'static str,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeState {
    /// Used in the finding with a (destination, port) the host never used in training.
    New,
    /// Used in the finding and in training.
    Known,
    /// Used in training only.
    TrainingOnly,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeView {
    pub dst: String,
    pub ports: Vec<u16>,
    pub state: EdgeState,
    pub flows: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortView {
    pub port: u16,
    pub new_dsts: usize,
    pub known_dsts: usize,
    pub training_dsts: usize,
}

/// Builds the page of a run.
pub fn build<'a>(run: &'a Run<'a>) -> Page<'a> {
    let features = run.features;
    let hosts = features.rows.iter().map(|r| r.host).collect::<BTreeSet<_>>().len();
    let mut dest_bytes: Option<BTreeMap<(Addr, String), BTreeMap<u64, u64>>> = None;
    let mut entries = Vec::with_capacity(run.findings.len());
    for (i, f) in run.findings.iter().enumerate() {
        let evidence = if i >= MAX_PLOTTED_FINDINGS {
            Evidence::None(format!("not plotted: only the first {MAX_PLOTTED_FINDINGS} findings are"))
        } else {
            match f.host.parse::<std::net::IpAddr>() {
                Err(_) => Evidence::None(format!("not plotted: host {:?} is not an address", f.host)),
                Ok(ip) => {
                    let host = Addr::from(ip);
                    match f.detector {
                        "beaconing" => beacon(f, host, features),
                        "exfiltration" => {
                            let by_window = dest_bytes.get_or_insert_with(|| {
                                bytes_by_window(&features.pairs, run.baseline.train.window_secs)
                            });
                            volume(f, host, run.baseline, features, by_window)
                        }
                        "lateral_movement" => edges(f, host, run, features),
                        other => Evidence::None(format!("no plot for detector {other}")),
                    }
                }
            }
        };
        entries.push(Entry { rank: i + 1, finding: f, evidence });
    }
    let mut host_index: Vec<HostIndex> = Vec::new();
    for e in &entries {
        match host_index.iter_mut().find(|h| h.host == e.finding.host) {
            Some(h) => h.findings.push(e.rank),
            None => host_index.push(HostIndex {
                host: e.finding.host.clone(),
                best: e.finding.score,
                findings: vec![e.rank],
            }),
        }
    }
    Page { run, hosts, windows: features.rows.len(), entries, host_index }
}

fn number(f: &Finding, key: &str) -> Option<f64> {
    f.evidence.get(key).and_then(serde_json::Value::as_f64)
}

fn same_pair(p: &PairSeries, host: Addr, peer: Addr, f: &Finding) -> bool {
    p.host == host
        && p.peer == peer
        && f.port.is_none_or(|port| port == p.port)
        && f.protocol.is_none_or(|proto| proto == p.protocol)
}

/// The pair's connections within the finding's span, and the gaps between them.
fn beacon(f: &Finding, host: Addr, features: &Features) -> Evidence {
    let Some(peer) = f.peer.as_deref().and_then(|p| p.parse::<std::net::IpAddr>().ok()).map(Addr::from) else {
        return Evidence::None("not plotted: the finding names no peer address".into());
    };
    let mut events: Vec<(u64, u64)> = Vec::new();
    let mut dropped = 0u64;
    for p in features.pairs.iter().filter(|p| same_pair(p, host, peer, f)) {
        if p.horizon_end <= f.window_start || p.horizon_start > f.window_end {
            continue;
        }
        dropped += p.events_dropped;
        let mut t = p.horizon_start;
        for (delta, bytes) in p.start_deltas.iter().zip(&p.bytes) {
            t += u64::from(*delta);
            if t >= f.window_start && t <= f.window_end {
                events.push((t, *bytes));
            }
        }
    }
    if events.is_empty() {
        return Evidence::None("not plotted: the pair's connections are not in this run's features".into());
    }
    events.sort_unstable();
    let period = number(f, "period_secs").filter(|p| *p > 0.0);
    let jitter = number(f, "jitter").filter(|j| *j >= 0.0);
    let gaps: Vec<u64> = events.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let intervals = histogram(&gaps, period);
    let mut notes = Vec::new();
    if dropped > 0 {
        notes.push(format!(
            "{dropped} later connections were beyond the per-pair limit of extraction and are not shown"
        ));
    }
    if intervals.beyond > 0 {
        notes.push(format!(
            "{} of {} gaps are longer than {} and not in the histogram",
            intervals.beyond,
            intervals.total,
            super::svg::duration(intervals.bin_secs * INTERVAL_BINS as f64)
        ));
    }
    let total = events.len();
    let events = thin(events, MAX_TIMELINE_DOTS);
    if events.len() < total {
        notes.push(format!("timeline shows {} of {total} connections (evenly sampled)", events.len()));
    }
    Evidence::Beacon(BeaconPlot {
        from: f.window_start,
        to: f.window_end.max(f.window_start + 1),
        events,
        intervals,
        period,
        jitter,
        notes,
    })
}

/// Every k-th element, keeping at most `max` (and always the first).
fn thin<T>(v: Vec<T>, max: usize) -> Vec<T> {
    if v.len() <= max || max == 0 {
        return v;
    }
    let k = v.len().div_ceil(max);
    v.into_iter().step_by(k).collect()
}

/// Gaps binned from 0 to 2.5 periods (or to the 95th percentile gap without a period),
/// so the period sits in the middle of the picture whatever its scale.
fn histogram(gaps: &[u64], period: Option<f64>) -> Histogram {
    let mut sorted = gaps.to_vec();
    sorted.sort_unstable();
    let p95 = sorted.get((sorted.len() * 95 / 100).min(sorted.len().saturating_sub(1))).copied().unwrap_or(1);
    let range = match period {
        Some(p) => 2.5 * p,
        None => p95 as f64 * 1.2,
    }
    .max(INTERVAL_BINS as f64);
    let bin_secs = range / INTERVAL_BINS as f64;
    let mut counts = vec![0u64; INTERVAL_BINS];
    let mut beyond = 0;
    for &g in gaps {
        let i = (g as f64 / bin_secs) as usize;
        match counts.get_mut(i) {
            Some(c) => *c += 1,
            None => beyond += 1,
        }
    }
    Histogram { bin_secs, counts, beyond, total: gaps.len() as u64 }
}

/// The host's external bytes per window over the run, its usual band, its peer group's
/// level and the destination's part.
fn volume(
    f: &Finding,
    host: Addr,
    baseline: &Baseline,
    features: &Features,
    by_window: &BTreeMap<(Addr, String), BTreeMap<u64, u64>>,
) -> Evidence {
    let rows: Vec<&HostWindow> = features.rows.iter().filter(|r| r.host == host).collect();
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Evidence::None("not plotted: the host has no windows in this run".into());
    };
    let window_secs = baseline.train.window_secs.max(1);
    let key = f.evidence.get("destination_key").and_then(|v| v.as_str()).map(str::to_string).or_else(|| {
        let ip = f.peer.as_deref()?.parse::<std::net::IpAddr>().ok()?;
        Some(dest_key(Addr::from(ip), false))
    });
    let empty = BTreeMap::new();
    let dest = key.as_ref().and_then(|k| by_window.get(&(host, k.clone()))).unwrap_or(&empty);
    let history = baseline.host(&f.host);
    let prior = history.and_then(|h| baseline.group_volume.get(h.group));
    let span_windows = (last.window_start - first.window_start) / window_secs + 1;
    let per_point = span_windows.div_ceil(MAX_VOLUME_POINTS as u64).max(1);
    let step_secs = per_point * window_secs;
    let origin = first.window_start;
    let mut points: Vec<VolumePoint> = Vec::new();
    for r in &rows {
        let t = origin + (r.window_start - origin) / step_secs * step_secs;
        let hour = ((r.window_start % DAY) / 3600) as usize;
        let band = history.map(|h| {
            let e = h.volume.expect(hour, 0.0, prior, baseline.params.shrinkage()).expectation;
            ((e.location - BAND_SIGMAS * e.scale).exp_m1().max(0.0), (e.location + BAND_SIGMAS * e.scale).exp_m1())
        });
        let group_median = prior.map(|p| {
            let cell = p.params.season_cell(r.window_start as i64, 0);
            p.cells.get(&cell).copied().unwrap_or(p.all).location.exp_m1().max(0.0)
        });
        let point = VolumePoint {
            t,
            host_bytes: r.bytes_out_external.saturating_sub(r.bytes_out_aws),
            host_bytes_aws: r.bytes_out_aws,
            dest_bytes: dest.get(&r.window_start).copied().unwrap_or(0),
            band,
            group_median,
        };
        match points.last_mut() {
            Some(q) if q.t == t => {
                q.host_bytes = q.host_bytes.max(point.host_bytes);
                q.host_bytes_aws = q.host_bytes_aws.max(point.host_bytes_aws);
                q.dest_bytes = q.dest_bytes.max(point.dest_bytes);
                q.band = match (q.band, point.band) {
                    (Some(a), Some(b)) => Some((a.0.max(b.0), a.1.max(b.1))),
                    (a, b) => a.or(b),
                };
                q.group_median = match (q.group_median, point.group_median) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            _ => points.push(point),
        }
    }
    let in_mark = |t: u64| t >= f.window_start && t < f.window_end.max(f.window_start + 1);
    let host_in_mark: u64 = rows.iter().filter(|r| in_mark(r.window_start)).map(|r| r.bytes_out_external).sum();
    let dest_in_mark: u64 = dest.iter().filter(|(t, _)| in_mark(**t)).map(|(_, b)| *b).sum();
    let mut notes = Vec::new();
    if per_point > 1 {
        notes.push(format!(
            "each point is the busiest of {per_point} windows ({}); the range is {} windows",
            super::svg::duration(step_secs as f64),
            span_windows
        ));
    }
    if history.is_none() {
        notes.push("no baseline band: the host has no history in the baseline".into());
    }
    Evidence::Volume(VolumePlot {
        window_secs,
        step_secs,
        points,
        mark: (f.window_start, f.window_end.max(f.window_start + window_secs)),
        destination: key.filter(|_| !dest.is_empty()),
        destination_share: (host_in_mark > 0 && !dest.is_empty())
            .then(|| (dest_in_mark as f64 / host_in_mark as f64).min(1.0)),
        notes,
    })
}

/// The host's internal edges in the finding's span against those of its history: the
/// model's training edges, or, for a self-baseline hunt, its edges on the other days.
fn edges(f: &Finding, host: Addr, run: &Run<'_>, features: &Features) -> Evidence {
    let end = f.window_end.max(f.window_start + 1);
    let mine = |e: &&InternalEdge| e.src == host;
    let current: Vec<&InternalEdge> = features
        .edges
        .iter()
        .filter(mine)
        .filter(|e| e.window_start >= f.window_start && e.window_start < end)
        .collect();
    if current.is_empty() {
        return Evidence::None("not plotted: the host's internal edges are not in this run's features".into());
    }
    let (known, history): (BTreeSet<(String, u16)>, &'static str) = match run.model {
        Some(_) => (
            run.baseline
                .host(&f.host)
                .map_or_else(BTreeSet::new, |h| h.edges.iter().map(|e| (e.dst.clone(), e.port)).collect()),
            "the model's training period",
        ),
        None => {
            let days: BTreeSet<u64> = (f.window_start / DAY..=(end - 1) / DAY).collect();
            (
                features
                    .edges
                    .iter()
                    .filter(mine)
                    .filter(|e| !days.contains(&(e.window_start / DAY)))
                    .map(|e| (e.dst.to_string(), e.dst_port))
                    .collect(),
                "the other days hunted",
            )
        }
    };
    // Per destination: ports, flows, rejects, and whether any (destination, port) is new.
    let mut by_dst: BTreeMap<String, EdgeView> = BTreeMap::new();
    let mut port_now: BTreeMap<u16, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for e in &current {
        let dst = e.dst.to_string();
        let is_new = !known.contains(&(dst.clone(), e.dst_port));
        let v = by_dst.entry(dst.clone()).or_insert_with(|| EdgeView {
            dst: dst.clone(),
            ports: Vec::new(),
            state: EdgeState::Known,
            flows: 0,
            rejected: 0,
        });
        if !v.ports.contains(&e.dst_port) {
            v.ports.push(e.dst_port);
        }
        v.flows += e.flows_accept + e.flows_reject;
        v.rejected += e.flows_reject;
        if is_new {
            v.state = EdgeState::New;
        }
        let sets = port_now.entry(e.dst_port).or_default();
        if is_new {
            sets.0.insert(dst)
        } else {
            sets.1.insert(dst)
        };
    }
    let mut port_training: BTreeMap<u16, usize> = BTreeMap::new();
    let mut training_only: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for (dst, port) in &known {
        *port_training.entry(*port).or_default() += 1;
        if !by_dst.contains_key(dst) {
            training_only.entry(dst.clone()).or_default().push(*port);
        }
    }
    let mut views: Vec<EdgeView> = by_dst.into_values().collect();
    for v in &mut views {
        v.ports.sort_unstable();
    }
    views.sort_by(|a, b| b.flows.cmp(&a.flows).then_with(|| a.dst.cmp(&b.dst)));
    let (new, known_now): (Vec<EdgeView>, Vec<EdgeView>) = views.into_iter().partition(|v| v.state == EdgeState::New);
    let training_only: Vec<EdgeView> = training_only
        .into_iter()
        .map(|(dst, ports)| EdgeView { dst, ports, state: EdgeState::TrainingOnly, flows: 0, rejected: 0 })
        .collect();
    // New edges first, but a scan's hundreds of them must not hide what the host usually
    // does: some places are kept for its history.
    let history_room = (known_now.len() + training_only.len()).min(GRAPH_PLACES_FOR_HISTORY);
    let new_shown = new.len().min(MAX_GRAPH_DESTINATIONS - history_room);
    let known_shown = known_now.len().min(MAX_GRAPH_DESTINATIONS - new_shown);
    let training_shown = training_only.len().min(MAX_GRAPH_DESTINATIONS - new_shown - known_shown);
    let mut notes = Vec::new();
    let drawn = new_shown + known_shown + training_shown;
    let total = new.len() + known_now.len() + training_only.len();
    if drawn < total {
        notes.push(format!(
            "graph shows {drawn} of {total} destinations: {new_shown} of {} new, {known_shown} of {} known, {training_shown} of {} used only in {history} (busiest first)",
            new.len(),
            known_now.len(),
            training_only.len()
        ));
    }
    let views: Vec<EdgeView> = new
        .into_iter()
        .take(new_shown)
        .chain(known_now.into_iter().take(known_shown))
        .chain(training_only.into_iter().take(training_shown))
        .collect();
    let mut ports: Vec<PortView> = port_now
        .into_iter()
        .map(|(port, (new, old))| PortView {
            port,
            new_dsts: new.len(),
            known_dsts: old.len(),
            training_dsts: port_training.get(&port).copied().unwrap_or(0),
        })
        .collect();
    // The finding's own port first, then the busiest.
    ports.sort_by(|a, b| {
        (Some(b.port) == f.port)
            .cmp(&(Some(a.port) == f.port))
            .then((b.new_dsts + b.known_dsts).cmp(&(a.new_dsts + a.known_dsts)))
            .then(a.port.cmp(&b.port))
    });
    if ports.len() > MAX_PORTS {
        notes.push(format!("port chart shows the {MAX_PORTS} busiest of {} ports", ports.len()));
        ports.truncate(MAX_PORTS);
    }
    Evidence::Edges(EdgePlot { host: f.host.clone(), peer: f.peer.clone(), edges: views, ports, history, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_centres_the_period_and_counts_the_rest() {
        let gaps = [300, 300, 290, 310, 1200, 5];
        let h = histogram(&gaps, Some(300.0));
        assert_eq!(h.total, 6);
        assert_eq!(h.beyond, 1, "1200 s is past 2.5 periods");
        assert_eq!(h.counts.iter().sum::<u64>(), 5);
        assert_eq!(h.bin_secs, 750.0 / 48.0);
        // 290, 300, 300 and 310 fall in bins 18 and 19 (281.25..312.5).
        assert_eq!(h.counts[18] + h.counts[19], 4);
        assert_eq!(h.counts[0], 1);
    }

    #[test]
    fn thinning_keeps_the_first_and_at_most_max() {
        let v: Vec<u32> = (0..10_001).collect();
        let t = thin(v, 2_000);
        assert!(t.len() <= 2_000 && t.len() > 1_600, "{}", t.len());
        assert_eq!(t[0], 0);
        assert_eq!(thin(vec![1, 2, 3], 5), vec![1, 2, 3]);
    }
}

//! The report's charts as inline SVG: a page with no script, no font or image to fetch,
//! so it opens offline, prints, and can be attached to a ticket as one file.
//!
//! Each function draws one chart from the data of [`super::data`] and returns an `<svg>`
//! element; they know nothing about detectors beyond the shapes they are given.

use std::fmt::Write;

use flowhound_flowlog::time::format_rfc3339;
/// Bytes as the findings' explanations write them ("5.2 KB", "1.3 GB").
use flowhound_model::human_bytes as bytes;

use super::data::{BeaconPlot, EdgePlot, EdgeState, VolumePlot};
use super::escape;

const INK: &str = "#1b1b1b";
const GRID: &str = "#d9d9d9";
const MUTED: &str = "#6b6b6b";
const ALERT: &str = "#c0262d";
const ACCENT: &str = "#1f5fa8";
const BAND: &str = "#cfe0f3";
const WARM: &str = "#d9822b";
const AWS: &str = "#8a63b8";

/// A linear or base-10 logarithmic map from data to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    px_lo: f64,
    px_hi: f64,
    log: bool,
}

impl Scale {
    fn linear(lo: f64, hi: f64, px_lo: f64, px_hi: f64) -> Scale {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        Scale { lo, hi, px_lo, px_hi, log: false }
    }

    /// Logarithmic from the power of ten at or below `lo` (at least 1) to the one at or
    /// above `hi`; values below 1 sit on the axis.
    fn log(lo: f64, hi: f64, px_lo: f64, px_hi: f64) -> Scale {
        let lo = lo.max(1.0).log10().floor();
        let hi = hi.max(10.0).log10().ceil().max(lo + 1.0);
        Scale { lo, hi, px_lo, px_hi, log: true }
    }

    fn at(&self, v: f64) -> f64 {
        let x = if self.log { v.max(1.0).log10() } else { v };
        let f = ((x - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.px_lo + f * (self.px_hi - self.px_lo)
    }

    /// Tick values: the powers of ten of a log scale, or "nice" steps of a linear one.
    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let step = if self.hi - self.lo > 8.0 { 2 } else { 1 };
            return (self.lo as i32..=self.hi as i32).step_by(step).map(|e| 10f64.powi(e)).collect();
        }
        let step = nice_step((self.hi - self.lo) / 5.0);
        let mut v = (self.lo / step).ceil() * step;
        let mut out = Vec::new();
        while v <= self.hi + step * 1e-9 && out.len() < 12 {
            out.push(v);
            v += step;
        }
        out
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p)
}

/// Ticks of a duration axis from 0 to `max` seconds at a step a clock reads (10 s, 1 min,
/// 5 min, 1 h …), at most about six of them.
fn duration_ticks(max: f64) -> Vec<f64> {
    const STEPS: [f64; 16] =
        [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21_600.0, 86_400.0];
    let step = STEPS.into_iter().find(|s| max / s <= 6.0).unwrap_or_else(|| nice_step(max / 6.0));
    (0..).map(|i| i as f64 * step).take_while(|v| *v <= max).collect()
}

/// Time ticks at a round step giving at most about seven labels, and their label format.
fn time_ticks(from: u64, to: u64) -> (Vec<u64>, fn(u64) -> String) {
    const STEPS: [u64; 14] = [
        60,
        300,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        2 * 86_400,
        7 * 86_400,
        14 * 86_400,
        30 * 86_400,
        90 * 86_400,
    ];
    let span = to.saturating_sub(from).max(1);
    let step = STEPS.into_iter().find(|s| span / s <= 7).unwrap_or(365 * 86_400);
    let mut ticks = Vec::new();
    let mut t = from.div_ceil(step) * step;
    while t <= to {
        ticks.push(t);
        t += step;
    }
    let label: fn(u64) -> String = if step >= 86_400 {
        |t| format_rfc3339(t)[5..10].to_string()
    } else if span > 86_400 {
        |t| format!("{} {}", &format_rfc3339(t)[5..10], &format_rfc3339(t)[11..16])
    } else {
        |t| format_rfc3339(t)[11..16].to_string()
    };
    (ticks, label)
}

/// A duration in the largest unit that keeps it readable.
pub fn duration(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn new(width: f64, height: f64) -> Frame {
        Frame { width, height, left: 64.0, right: width - 16.0, top: 40.0, bottom: height - 34.0 }
    }

    fn open(&self, s: &mut String, title: &str, label: &str) {
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}" font-family="system-ui, sans-serif" font-size="11">"#,
            w = self.width,
            h = self.height,
            label = escape(label)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="16" font-size="12" font-weight="600" fill="{INK}">{}</text>"#,
            self.left,
            escape(title)
        );
    }

    fn x_time_axis(&self, s: &mut String, x: &Scale, from: u64, to: u64) {
        let (ticks, label) = time_ticks(from, to);
        for t in ticks {
            let px = x.at(t as f64);
            let _ = write!(
                s,
                r#"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="{GRID}"/><text x="{px:.1}" y="{}" text-anchor="middle" fill="{MUTED}">{}</text>"#,
                self.top,
                self.bottom,
                self.bottom + 14.0,
                label(t)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" fill="{MUTED}">UTC</text>"#,
            self.right,
            self.bottom + 28.0
        );
    }

    fn y_axis(&self, s: &mut String, y: &Scale, fmt: impl Fn(f64) -> String) {
        for v in y.ticks() {
            let py = y.at(v);
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="{GRID}"/><text x="{}" y="{:.1}" text-anchor="end" fill="{MUTED}">{}</text>"#,
                self.left,
                self.right,
                self.left - 6.0,
                py + 4.0,
                escape(&fmt(v))
            );
        }
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{MUTED}"/>"#,
            self.left,
            self.top,
            self.right - self.left,
            self.bottom - self.top
        );
    }
}

/// Legend entries in a row under the title, from the frame's left edge.
fn legend(s: &mut String, frame: &Frame, entries: &[(&str, &str)]) {
    let mut x = frame.left;
    for (colour, text) in entries {
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="22" width="12" height="10" fill="{colour}"/><text x="{:.1}" y="31" fill="{INK}">{}</text>"#,
            x,
            x + 16.0,
            escape(text)
        );
        x += 6.2 * text.chars().count() as f64 + 30.0;
    }
}

/// Every connection of a pair as a dot at its start time and size: a beacon is a row of
/// evenly spaced dots of one size.
pub fn beacon_timeline(p: &BeaconPlot) -> String {
    let f = Frame::new(580.0, 240.0);
    let mut s = String::new();
    f.open(&mut s, "connections over time (size of each)", "connection timeline");
    let x = Scale::linear(p.from as f64, p.to as f64, f.left, f.right);
    let (lo, hi) = p.events.iter().fold((f64::MAX, 1.0f64), |(lo, hi), e| (lo.min(e.1 as f64), hi.max(e.1 as f64)));
    let y = Scale::log(lo, hi, f.bottom, f.top);
    f.x_time_axis(&mut s, &x, p.from, p.to);
    f.y_axis(&mut s, &y, bytes);
    for &(t, b) in &p.events {
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="{ACCENT}" fill-opacity="0.7"/>"#,
            x.at(t as f64),
            y.at(b as f64)
        );
    }
    s.push_str("</svg>");
    s
}

/// The gaps between consecutive connections, with the detected period and its jitter
/// marked: a beacon is one tall bar on the line.
pub fn interval_histogram(p: &BeaconPlot) -> String {
    let f = Frame::new(580.0, 240.0);
    let mut s = String::new();
    f.open(&mut s, "time between connections", "interval histogram");
    let h = &p.intervals;
    let bins = h.counts.len().max(1) as f64;
    let x = Scale::linear(0.0, h.bin_secs * bins, f.left, f.right);
    let top = h.counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let y = Scale::linear(0.0, top * 1.1, f.bottom, f.top);
    if let (Some(period), Some(jitter)) = (p.period, p.jitter) {
        let (a, b) = (x.at(period * (1.0 - jitter)), x.at(period * (1.0 + jitter)));
        let _ = write!(
            s,
            r#"<rect x="{a:.1}" y="{}" width="{:.1}" height="{}" fill="{BAND}"/>"#,
            f.top,
            (b - a).max(1.0),
            f.bottom - f.top
        );
    }
    for v in duration_ticks(h.bin_secs * bins) {
        let px = x.at(v);
        let anchor = if px > f.right - 20.0 { "end" } else { "middle" };
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="{GRID}"/><text x="{px:.1}" y="{}" text-anchor="{anchor}" fill="{MUTED}">{}</text>"#,
            f.top,
            f.bottom,
            f.bottom + 14.0,
            duration(v)
        );
    }
    f.y_axis(&mut s, &y, |v| format!("{v:.0}"));
    let w = (f.right - f.left) / bins;
    for (i, &c) in h.counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let py = y.at(c as f64);
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{py:.1}" width="{:.1}" height="{:.1}" fill="{ACCENT}"><title>{} to {}: {c}</title></rect>"#,
            f.left + i as f64 * w,
            (w - 1.0).max(0.5),
            f.bottom - py,
            duration(i as f64 * h.bin_secs),
            duration((i + 1) as f64 * h.bin_secs)
        );
    }
    if let Some(period) = p.period {
        let px = x.at(period);
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="{ALERT}" stroke-width="2" stroke-dasharray="5 3"/>"#,
            f.top, f.bottom
        );
    }
    let mut entries = vec![(ACCENT, "connections")];
    if p.period.is_some() {
        entries.push((ALERT, "detected period"));
    }
    if p.jitter.is_some() {
        entries.push((BAND, "± jitter"));
    }
    legend(&mut s, &f, &entries);
    s.push_str("</svg>");
    s
}

/// The host's bytes out per window on a log scale, inside its baseline band, beside its
/// peer group's usual level and the part that went to the finding's destination.
pub fn volume_chart(p: &VolumePlot) -> String {
    let f = Frame::new(1180.0, 280.0);
    let mut s = String::new();
    f.open(&mut s, "bytes sent outside the estate per window", "volume chart");
    let Some((first, last)) = p.points.first().zip(p.points.last()) else {
        s.push_str("</svg>");
        return s;
    };
    let (from, to) = (first.t.min(p.mark.0), (last.t + p.window_secs).max(p.mark.1));
    let x = Scale::linear(from as f64, to as f64, f.left, f.right);
    let hi = p
        .points
        .iter()
        .map(|q| ((q.host_bytes + q.host_bytes_aws).max(q.dest_bytes) as f64).max(q.band.map_or(0.0, |b| b.1)))
        .fold(10.0, f64::max);
    let y = Scale::log(1.0, hi, f.bottom, f.top);
    let (m0, m1) = (x.at(p.mark.0 as f64), x.at(p.mark.1 as f64));
    let _ = write!(
        s,
        r##"<rect x="{m0:.1}" y="{}" width="{:.1}" height="{}" fill="#fbe3e4"/>"##,
        f.top,
        (m1 - m0).max(2.0),
        f.bottom - f.top
    );
    f.x_time_axis(&mut s, &x, from, to);
    f.y_axis(&mut s, &y, bytes);
    // The band, as one polygon per run of windows that have one.
    let mut runs: Vec<Vec<(f64, f64, f64)>> = Vec::new();
    let mut prev: Option<u64> = None;
    for q in &p.points {
        match q.band {
            Some((lo, hi)) => {
                let contiguous = prev.is_some_and(|t| q.t == t + p.step_secs);
                if !contiguous {
                    runs.push(Vec::new());
                }
                let run = runs.last_mut().expect("pushed above");
                run.push((x.at(q.t as f64), y.at(lo), y.at(hi)));
                run.push((x.at((q.t + p.step_secs) as f64), y.at(lo), y.at(hi)));
                prev = Some(q.t);
            }
            None => prev = None,
        }
    }
    for run in &runs {
        let mut d = String::new();
        for (i, (px, _, hi)) in run.iter().enumerate() {
            let _ = write!(d, "{}{px:.1},{hi:.1}", if i == 0 { "M" } else { " L" });
        }
        for (px, lo, _) in run.iter().rev() {
            let _ = write!(d, " L{px:.1},{lo:.1}");
        }
        let _ = write!(s, r#"<path d="{d} Z" fill="{BAND}"/>"#);
    }
    let mut group = String::new();
    for q in p.points.iter().filter(|q| q.group_median.is_some()) {
        let v = q.group_median.unwrap_or(0.0);
        let _ = write!(
            group,
            "M{:.1},{:.1} L{:.1},{:.1} ",
            x.at(q.t as f64),
            y.at(v),
            x.at((q.t + p.step_secs) as f64),
            y.at(v)
        );
    }
    if !group.is_empty() {
        let _ =
            write!(s, r#"<path d="{group}" stroke="{MUTED}" stroke-width="1.5" stroke-dasharray="4 3" fill="none"/>"#);
    }
    let w = (x.at(p.step_secs as f64 + from as f64) - f.left).max(1.0);
    for q in p.points.iter().filter(|q| q.dest_bytes > 0) {
        let py = y.at(q.dest_bytes as f64);
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{py:.1}" width="{w:.1}" height="{:.1}" fill="{WARM}" fill-opacity="0.85"/>"#,
            x.at(q.t as f64),
            f.bottom - py
        );
    }
    let with_aws = p.points.iter().any(|q| q.host_bytes_aws > 0);
    let path = |value: &dyn Fn(&super::data::VolumePoint) -> u64| {
        let mut d = String::new();
        for (i, q) in p.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x.at(q.t as f64 + p.step_secs as f64 / 2.0),
                y.at(value(q) as f64)
            );
        }
        d
    };
    if with_aws {
        let d = path(&|q| q.host_bytes + q.host_bytes_aws);
        let _ = write!(s, r#"<path d="{d}" stroke="{AWS}" stroke-width="1" fill="none"/>"#);
    }
    let d = path(&|q| q.host_bytes);
    let _ = write!(s, r#"<path d="{d}" stroke="{INK}" stroke-width="1.5" fill="none"/>"#);
    let mut entries =
        vec![(INK, "host (AWS services excluded)"), (BAND, "host's usual"), (MUTED, "peer group's usual")];
    if with_aws {
        entries.insert(1, (AWS, "with AWS services"));
    }
    if p.destination.is_some() {
        entries.push((WARM, "to the finding's destination"));
    }
    entries.push(("#fbe3e4", "finding"));
    legend(&mut s, &f, &entries);
    s.push_str("</svg>");
    s
}

/// The host's internal edges as a star: the host in the middle, each destination around
/// it, coloured by whether the host used that edge in training; ports on the line.
pub fn edge_graph(p: &EdgePlot) -> String {
    let (w, h) = (660.0, 680.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="edge graph" font-family="system-ui, sans-serif" font-size="10">"#
    );
    let _ = write!(
        s,
        r#"<text x="12" y="16" font-size="12" font-weight="600" fill="{INK}">internal connections of {}</text>"#,
        escape(&p.host)
    );
    // Labels run along their spoke (rotated), so forty of them do not collide.
    let (cx, cy, r) = (w / 2.0, h / 2.0 + 20.0, 125.0);
    let n = p.edges.len().max(1) as f64;
    let mut nodes = String::new();
    for (i, e) in p.edges.iter().enumerate() {
        let a = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
        let (x, y) = (cx + r * a.cos(), cy + r * a.sin());
        let (colour, mut width, dash) = match e.state {
            EdgeState::New => (ALERT, 2.0, ""),
            EdgeState::Known => (ACCENT, 1.5, ""),
            EdgeState::TrainingOnly => (GRID, 1.5, r#" stroke-dasharray="4 3""#),
        };
        let is_peer = p.peer.as_deref() == Some(e.dst.as_str());
        if is_peer {
            width *= 2.0;
        }
        let weight = if is_peer { r#" font-weight="700""# } else { "" };
        let ports: Vec<String> = e.ports.iter().take(3).map(u16::to_string).collect();
        let more = if e.ports.len() > 3 { format!(" +{}", e.ports.len() - 3) } else { String::new() };
        let _ = write!(
            s,
            r#"<line x1="{cx:.1}" y1="{cy:.1}" x2="{x:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="{width}"{dash}><title>{} port {}{more}: {} flows, {} rejected</title></line>"#,
            escape(&e.dst),
            ports.join(","),
            e.flows,
            e.rejected
        );
        let (lx, ly) = (cx + (r + 8.0) * a.cos(), cy + (r + 8.0) * a.sin());
        let (deg, anchor) = if a.cos() >= -1e-9 { (a.to_degrees(), "start") } else { (a.to_degrees() + 180.0, "end") };
        let _ = write!(
            nodes,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/><text x="{lx:.1}" y="{ly:.1}" dy="3" text-anchor="{anchor}" transform="rotate({deg:.1} {lx:.1} {ly:.1})" fill="{INK}"{weight}>{} :{}{more}</text>"#,
            escape(&e.dst),
            ports.join(",")
        );
    }
    s.push_str(&nodes);
    let _ = write!(s, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="7" fill="{INK}"/>"#);
    let f = Frame { width: w, height: h, left: 12.0, right: w - 12.0, top: 40.0, bottom: h - 12.0 };
    legend(&mut s, &f, &[(ALERT, "new"), (ACCENT, "also used in history"), (GRID, "history only")]);
    s.push_str("</svg>");
    s
}

/// Per destination port: destinations reached in the finding (new and known) beside
/// those the host reached on that port in training.
pub fn port_bars(p: &EdgePlot) -> String {
    let rows = p.ports.len().max(1) as f64;
    let (w, h) = (500.0, 52.0 + 22.0 * rows);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="ports" font-family="system-ui, sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<text x="12" y="16" font-size="12" font-weight="600" fill="{INK}">destinations per port, now and in history</text>"#
    );
    let f = Frame { width: w, height: h, left: 12.0, right: w - 12.0, top: 40.0, bottom: h };
    legend(&mut s, &f, &[(ALERT, "new"), (ACCENT, "known"), (GRID, "history")]);
    let most =
        p.ports.iter().map(|q| (q.new_dsts + q.known_dsts).max(q.training_dsts)).max().unwrap_or(1).max(1) as f64;
    let x = Scale::linear(0.0, most, 70.0, w - 110.0);
    for (i, q) in p.ports.iter().enumerate() {
        let y0 = 44.0 + 22.0 * i as f64;
        let _ = write!(s, r#"<text x="62" y="{:.1}" text-anchor="end" fill="{INK}">{}</text>"#, y0 + 12.0, q.port);
        let new_w = x.at(q.new_dsts as f64) - x.at(0.0);
        let known_w = x.at(q.known_dsts as f64) - x.at(0.0);
        let train_w = x.at(q.training_dsts as f64) - x.at(0.0);
        let _ = write!(
            s,
            r#"<rect x="70" y="{y0:.1}" width="{new_w:.1}" height="9" fill="{ALERT}"/><rect x="{:.1}" y="{y0:.1}" width="{known_w:.1}" height="9" fill="{ACCENT}"/><rect x="70" y="{:.1}" width="{train_w:.1}" height="6" fill="{GRID}"/><text x="{:.1}" y="{:.1}" fill="{MUTED}">{} now / {} before</text>"#,
            70.0 + new_w,
            y0 + 10.0,
            70.0 + new_w.max(known_w + new_w).max(train_w) + 6.0,
            y0 + 12.0,
            q.new_dsts + q.known_dsts,
            q.training_dsts
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_ends_and_clamp() {
        let s = Scale::linear(0.0, 10.0, 100.0, 200.0);
        assert_eq!(s.at(5.0), 150.0);
        assert_eq!(s.at(-3.0), 100.0);
        let l = Scale::log(3.0, 2_000.0, 0.0, 300.0);
        assert_eq!((l.lo, l.hi), (0.0, 4.0));
        assert_eq!(l.at(100.0), 150.0);
        assert_eq!(l.ticks(), vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]);
        assert_eq!(Scale::linear(0.0, 97.0, 0.0, 1.0).ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0]);
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        let (ticks, label) = time_ticks(1_700_000_000, 1_700_000_000 + 86_400);
        assert!(ticks.len() <= 8 && ticks.len() >= 4, "{ticks:?}");
        assert!(ticks.iter().all(|t| t % (6 * 3600) == 0 || t % (3 * 3600) == 0));
        assert_eq!(label(ticks[0]).len(), 5);
        assert_eq!(duration_ticks(750.0), vec![0.0, 300.0, 600.0]);
        assert_eq!(duration_ticks(57.5), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let (ticks, label) = time_ticks(1_700_000_000, 1_700_000_000 + 20 * 86_400);
        assert!(ticks.iter().all(|t| t % 86_400 == 0), "{ticks:?}");
        assert_eq!(label(ticks[0]).len(), 5);
    }

    #[test]
    fn units_read_like_the_findings() {
        assert_eq!(bytes(5_200.0), "5.2 KB");
        assert_eq!(bytes(1_300_000_000.0), "1.3 GB");
        assert_eq!(bytes(12.0), "12 B");
        assert_eq!(duration(298.0), "5.0 min");
        assert_eq!(duration(23.0), "23 s");
    }
}

//! The page: summary, hosts, ranked findings, then one card per finding with its plots.

use std::fmt::Write;

use flowhound_flowlog::time::format_rfc3339;

use super::data::{Evidence, Page};
use super::{escape, host_anchor, svg};

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; background: #fff; margin: 0 auto; max-width: 1220px; padding: 16px 20px 48px; }
h1 { font-size: 22px; margin: 4px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.summary td:first-child { width: 140px; color: #555; }
.sev { display: inline-block; min-width: 56px; text-align: center; border-radius: 3px; padding: 0 6px; font-size: 12px; font-weight: 600; color: #fff; }
.sev-high { background: #b3202a; } .sev-medium { background: #b85c00; } .sev-low { background: #5d6b12; }
.card { border: 1px solid #d0d0d0; border-radius: 6px; padding: 12px 14px; margin: 14px 0; break-inside: avoid; }
.card p { margin: 4px 0 8px; }
.facts { color: #444; font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.plots svg { max-width: 100%; height: auto; }
.note { color: #555; font-size: 12px; font-style: italic; margin: 2px 0; }
a { color: #1f5fa8; }
code { font-size: 12px; }
ul.hosts { columns: 3 360px; column-gap: 24px; list-style: none; padding: 0; margin: 0; }
ul.hosts li { break-inside: avoid; padding: 2px 0; border-bottom: 1px solid #eee; }
ul.hosts .best { color: #555; font-variant-numeric: tabular-nums; margin: 0 6px; }
@media print { body { max-width: none; } a { color: inherit; text-decoration: none; } .card { page-break-inside: avoid; } }
"#;

fn severity(s: &str) -> String {
    format!(r#"<span class="sev sev-{s}">{s}</span>"#, s = escape(s))
}

fn host_link(host: &str) -> String {
    format!(r##"<a href="#{}">{}</a>"##, host_anchor(host), escape(host))
}

fn span(from: u64, to: u64) -> String {
    format!("{} .. {}", format_rfc3339(from), format_rfc3339(to))
}

pub fn render(page: &Page<'_>) -> String {
    let run = page.run;
    let mut s = String::with_capacity(64 * 1024);
    let title = format!("flowhound {} report", run.command);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    summary(&mut s, page);
    hosts(&mut s, page);
    ranked(&mut s, page);
    cards(&mut s, page);
    s.push_str("</body></html>\n");
    s
}

fn summary(s: &mut String, page: &Page<'_>) {
    let run = page.run;
    let shown: Vec<String> = run.sources.iter().take(10).map(|x| format!("<code>{}</code>", escape(x))).collect();
    let more = if run.sources.len() > 10 { format!(" and {} more", run.sources.len() - 10) } else { String::new() };
    let range = match (run.first, run.last) {
        (Some(a), Some(b)) => span(a, b),
        _ => "-".into(),
    };
    let model = match run.model {
        Some(id) => format!("<code>{}</code>", escape(id)),
        None => "no model: the hunted data is its own baseline (each day judged against the others)".into(),
    };
    s.push_str("<table class=\"summary\">");
    for (k, v) in [
        ("sources", format!("{}{more}", shown.join(", "))),
        ("time range", range),
        ("records", format!("{} ({} malformed)", run.records, run.malformed)),
        (
            "hosts",
            format!(
                "{} hosts, {} host windows of {}",
                page.hosts,
                page.windows,
                svg::duration(run.baseline.train.window_secs as f64)
            ),
        ),
        ("model", model),
        ("findings", findings_by_detector(page)),
    ] {
        let _ = write!(s, "<tr><td>{k}</td><td>{v}</td></tr>");
    }
    s.push_str("</table>\n");
}

fn findings_by_detector(page: &Page<'_>) -> String {
    if page.entries.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = crate::score::counts_by_detector(page.run.findings)
        .iter()
        .map(|(d, [h, m, l])| format!("{d}: {h} high, {m} medium, {l} low"))
        .collect();
    format!("{} — {}", page.entries.len(), parts.join("; "))
}

fn hosts(s: &mut String, page: &Page<'_>) {
    if page.host_index.is_empty() {
        s.push_str("<h2>Findings</h2><p>No findings.</p>\n");
        return;
    }
    s.push_str("<h2>Hosts</h2><ul class=\"hosts\">");
    for h in &page.host_index {
        let links: Vec<String> = h
            .findings
            .iter()
            .map(|r| {
                let f = page.entries[r - 1].finding;
                format!(r##"<a href="#f{r}">#{r} {}</a>"##, escape(f.detector))
            })
            .collect();
        let _ = write!(
            s,
            r#"<li id="{}"><b>{}</b> <span class="best">{:.1}</span> {}</li>"#,
            host_anchor(&h.host),
            escape(&h.host),
            h.best,
            links.join(", ")
        );
    }
    s.push_str("</ul>\n");
}

fn ranked(s: &mut String, page: &Page<'_>) {
    if page.entries.is_empty() {
        return;
    }
    s.push_str("<h2>Findings by score</h2><table><tr><th class=\"num\">#</th><th class=\"num\">score</th><th>severity</th><th>detector</th><th>host</th><th>peer</th><th>explanation</th></tr>");
    for e in &page.entries {
        let f = e.finding;
        let peer = match (&f.peer, f.port) {
            (Some(p), Some(port)) => format!("{}:{port}", escape(p)),
            (Some(p), None) => escape(p),
            _ => "-".into(),
        };
        let _ = write!(
            s,
            r##"<tr><td class="num"><a href="#f{r}">{r}</a></td><td class="num">{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{peer}</td><td>{}</td></tr>"##,
            f.score,
            severity(f.severity.as_str()),
            escape(f.detector),
            host_link(&f.host),
            escape(&f.summary),
            r = e.rank
        );
    }
    s.push_str("</table>\n");
}

fn cards(s: &mut String, page: &Page<'_>) {
    if page.entries.is_empty() {
        return;
    }
    s.push_str("<h2>Evidence</h2>\n");
    for e in &page.entries {
        let f = e.finding;
        let peer = match (&f.peer, f.port) {
            (Some(p), Some(port)) => format!(" → {}:{port}", escape(p)),
            (Some(p), None) => format!(" → {}", escape(p)),
            _ => String::new(),
        };
        let _ = write!(
            s,
            r#"<section class="card" id="f{}"><h3>#{} {} {:.1} {} — {}{peer}</h3><p>{}</p><div class="facts">{}"#,
            e.rank,
            e.rank,
            severity(f.severity.as_str()),
            f.score,
            escape(f.detector),
            host_link(&f.host),
            escape(&f.summary),
            span(f.window_start, f.window_end)
        );
        if let Some(i) = &f.incident {
            let _ = write!(
                s,
                " · incident <code>{}</code> ({}, {} findings)",
                escape(&i.id),
                escape(i.state.as_str()),
                i.findings
            );
        }
        if let Some(id) = &f.instance_id {
            let _ = write!(s, " · <code>{}</code>", escape(id));
        }
        if let Some(id) = &f.interface_id {
            let _ = write!(s, " · <code>{}</code>", escape(id));
        }
        if !f.related_hosts.is_empty() {
            let related: Vec<String> = f.related_hosts.iter().map(|h| host_link(h)).collect();
            let _ = write!(s, " · same campaign: {}", related.join(", "));
        }
        s.push_str("</div>");
        let notes = match &e.evidence {
            Evidence::Beacon(p) => {
                let _ =
                    write!(s, r#"<div class="plots">{}{}</div>"#, svg::beacon_timeline(p), svg::interval_histogram(p));
                p.notes.as_slice()
            }
            Evidence::Volume(p) => {
                let _ = write!(s, r#"<div class="plots">{}</div>"#, svg::volume_chart(p));
                if let (Some(d), Some(share)) = (&p.destination, p.destination_share) {
                    let _ = write!(
                        s,
                        r#"<p class="facts">{:.0}% of the host's external bytes in the finding's span went to <code>{}</code>.</p>"#,
                        share * 100.0,
                        escape(d)
                    );
                }
                p.notes.as_slice()
            }
            Evidence::Edges(p) => {
                let _ = write!(s, r#"<div class="plots">{}{}</div>"#, svg::edge_graph(p), svg::port_bars(p));
                let _ = write!(s, r#"<p class="facts">History: {}.</p>"#, p.history);
                p.notes.as_slice()
            }
            Evidence::None(why) => {
                let _ = write!(s, r#"<p class="note">{}</p>"#, escape(why));
                &[]
            }
        };
        for n in notes {
            let _ = write!(s, r#"<p class="note">{}</p>"#, escape(n));
        }
        s.push_str("</section>\n");
    }
}

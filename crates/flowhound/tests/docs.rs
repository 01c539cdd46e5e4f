//! The user's reference in docs/ equals the binary: every command's `--help` is quoted
//! verbatim in docs/cli.md, and the metrics table of docs/metrics.md names the metrics,
//! units and dimensions the code publishes. After changing a flag, run
//! `FLOWHOUND_BLESS=1 cargo test -p flowhound --test docs` to rewrite the quoted help, then
//! read the diff: the prose around it may need the same change.

use std::path::{Path, PathBuf};
use std::process::Command;

use flowhound_aws::cloudwatch::{Metric, Unit, names};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn help(command: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowhound"));
    if !command.is_empty() {
        cmd.arg(command);
    }
    let out = cmd.arg("--help").output().expect("run flowhound");
    assert!(out.status.success(), "flowhound {command} --help failed");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The commands `flowhound --help` lists (without `help`).
fn commands() -> Vec<String> {
    let top = help("");
    let listed = top.split("Commands:\n").nth(1).expect("a Commands section").split("\n\n").next().unwrap_or("");
    listed.lines().filter_map(|l| l.split_whitespace().next()).filter(|c| *c != "help").map(str::to_string).collect()
}

const OPEN: &str = "<!-- help: ";
const CLOSE: &str = "<!-- /help -->";

/// Each `<!-- help: NAME -->` block of `text`: the name, and the byte range of the fenced
/// help between the markers.
fn blocks(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(OPEN) {
        let start = from + at;
        let name_end = start + text[start..].find(" -->").expect("marker end");
        let name = text[start + OPEN.len()..name_end].trim().to_string();
        let body = name_end + " -->\n".len();
        let end = body + text[body..].find(CLOSE).expect("closing help marker");
        out.push((name, body..end));
        from = end + CLOSE.len();
    }
    out
}

fn fenced(help: &str) -> String {
    format!("```text\n{}\n```\n", help.trim_end())
}

#[test]
fn cli_reference_quotes_every_commands_help() {
    let path = docs().join("cli.md");
    let text = std::fs::read_to_string(&path).expect("docs/cli.md");
    let found = blocks(&text);
    let mut expected = vec![String::new()];
    expected.extend(commands());
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|n| if n.is_empty() { "flowhound" } else { n.as_str() }).collect();
    assert_eq!(names, want, "docs/cli.md must quote the help of exactly these commands, in this order");

    let bless = std::env::var_os("FLOWHOUND_BLESS").is_some_and(|v| v == "1");
    let mut rewritten = text.clone();
    let mut stale = Vec::new();
    // Back to front, so earlier ranges stay valid while replacing.
    for (name, range) in found.iter().rev() {
        let command = if name == "flowhound" { "" } else { name.as_str() };
        let want = fenced(&help(command));
        if text[range.clone()] != want {
            stale.push(name.clone());
            rewritten.replace_range(range.clone(), &want);
        }
    }
    if bless {
        std::fs::write(&path, rewritten).expect("write docs/cli.md");
        return;
    }
    assert!(
        stale.is_empty(),
        "docs/cli.md quotes an old --help of {stale:?}: run FLOWHOUND_BLESS=1 cargo test -p flowhound --test docs \
         and review the diff"
    );
}

/// The rows of the metrics table: name, unit, dimensions.
fn metric_rows(text: &str) -> Vec<(String, String, Vec<String>)> {
    let table = text
        .split("## Metrics")
        .nth(1)
        .expect("a Metrics section")
        .split("\n\n")
        .find(|p| p.starts_with('|'))
        .expect("the table");
    table
        .lines()
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let tick = |c: &str| c.trim_matches('`').to_string();
            let dims = cells[3].split(',').map(|d| tick(d.trim())).filter(|d| d != "—").collect();
            (tick(cells[1]), cells[2].to_string(), dims)
        })
        .collect()
}

#[test]
fn metrics_reference_names_what_is_published() {
    let text = std::fs::read_to_string(docs().join("metrics.md")).expect("docs/metrics.md");
    let rows = metric_rows(&text);
    let code: Vec<Metric> = vec![
        Metric::findings("beaconing", "high", 1, 0),
        Metric::max_score("beaconing", 1.0, 0),
        Metric::host_score("beaconing", "10.0.0.1", 1.0, 0),
        Metric::windows_scored(1, 0),
        Metric::records_processed(1, 0),
        Metric::records_malformed(1, 0),
        Metric::model_refused(0),
        Metric::ingest_lag_seconds(1.0, 0),
    ];
    assert_eq!(rows.len(), code.len(), "{rows:?}");
    for (m, (name, unit, dims)) in code.iter().zip(&rows) {
        assert_eq!(&m.name, name);
        let unit_name = match m.unit {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        };
        assert_eq!(unit_name, unit, "unit of {name}");
        let code_dims: Vec<&str> = m.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(code_dims, dims.iter().map(String::as_str).collect::<Vec<_>>(), "dimensions of {name}");
    }
    assert_eq!(rows[0].0, names::FINDINGS);

    // Every alarm of the template on a flowhound metric is explained.
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/cloudformation/flowhound.yaml"),
    )
    .expect("the template");
    let alarms: Vec<&str> = template
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .filter(|n| n.ends_with("Alarm"))
        .collect();
    assert!(alarms.len() >= 7, "{alarms:?}");
    for alarm in alarms {
        assert!(text.contains(&format!("| `{alarm}` |")), "docs/metrics.md does not explain {alarm}");
    }
}

//! `--report`: the page of a small simulated run, rendered by a real browser (headless
//! Chromium): it must show something, print nothing on the console and load nothing but
//! itself. A missing Chromium fails the test unless FLOWHOUND_NO_CHROMIUM=1 (tests/run.sh
//! says so in its last line).

use std::path::{Path, PathBuf};
use std::process::Command;

fn flowhound(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_flowhound")).args(args).env("RUST_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "flowhound {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The browser, or `None` when the caller skips browser tests.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLOWHOUND_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if std::env::var_os("FLOWHOUND_NO_CHROMIUM").is_some_and(|v| v == "1") {
        eprintln!("skipped: FLOWHOUND_NO_CHROMIUM=1");
        return None;
    }
    panic!(
        "this test needs headless Chromium (Debian: apt-get install chromium; .ci/run installs it): \
         set FLOWHOUND_CHROMIUM to its path, or FLOWHOUND_NO_CHROMIUM=1 to skip the browser tests"
    );
}

/// What the browser made of a page.
struct Rendered {
    /// Pixels that are not (near) white, as a share of the screenshot.
    ink: f64,
    /// Distinct colours in the screenshot.
    colours: usize,
    /// Pixels of exactly this colour, when asked for.
    exact: usize,
    /// Console messages (the page has no script, so any is a fault).
    console: Vec<String>,
    /// Files the page made the browser load, other than itself.
    loads: Vec<String>,
}

fn render(browser: &Path, page: &Path, exact: [u8; 3]) -> Rendered {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=1",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(shot.is_file(), "chromium wrote no screenshot (exit {:?}): {log}", out.status);
    let console = log.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    let loads = log
        .lines()
        .filter_map(|l| l.split("FileURLLoader::Start: ").nth(1))
        .filter(|u| *u != url)
        .map(str::to_string)
        .collect();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3 && info.bit_depth == png::BitDepth::Eight, "{info:?}");
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()].chunks(channels).map(|c| [c[0], c[1], c[2]]).collect();
    let ink = pixels.iter().filter(|p| p.iter().any(|v| *v < 235)).count() as f64 / pixels.len() as f64;
    let colours = pixels.iter().collect::<std::collections::HashSet<_>>().len();
    let exact = pixels.iter().filter(|p| **p == exact).count();
    Rendered { ink, colours, exact, console, loads }
}

/// The high-severity badge colour of the page's style sheet.
const HIGH: [u8; 3] = [0xb3, 0x20, 0x2a];

#[test]
fn a_report_renders_in_a_browser_with_every_finding_and_nothing_else() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    flowhound(&[
        "simulate",
        "--out",
        path(&sim),
        "--seed",
        "1",
        "--hosts",
        "12",
        "--train-days",
        "2",
        "--test-days",
        "1",
    ]);
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/reference");
    let findings = dir.path().join("findings.jsonl");
    let report = dir.path().join("score.html");
    flowhound(&[
        "score",
        path(&sim.join("test")),
        "--model",
        path(&reference),
        "--findings",
        path(&findings),
        "--report",
        path(&report),
    ]);
    let lines = std::fs::read_to_string(&findings).unwrap().lines().count();
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(lines > 0, "the scenario's attacks should be found");
    assert_eq!(html.matches("<section class=\"card\"").count(), lines, "one card per finding");
    assert!(html.contains("<h1>flowhound score report</h1>"));
    assert!(html.matches("<svg").count() >= lines, "every finding of the scenario has a plot");
    let high = std::fs::read_to_string(&findings).unwrap().matches("\"severity\":\"high\"").count();

    let page = render(&browser, &report, HIGH);
    assert!(page.console.is_empty(), "console: {:?}", page.console);
    assert!(page.loads.is_empty(), "the page loaded {:?}", page.loads);
    assert!(page.ink > 0.03, "screenshot nearly blank: {:.4} of pixels inked", page.ink);
    assert!(page.colours > 50, "screenshot has {} colours", page.colours);
    if high > 0 {
        assert!(page.exact > 100, "no high-severity badge drawn ({} pixels)", page.exact);
    }

    // hunt without a model on the same day: the same page, its own baseline.
    let hunted = dir.path().join("hunt.html");
    flowhound(&["hunt", path(&sim.join("test")), "--report", path(&hunted)]);
    let html = std::fs::read_to_string(&hunted).unwrap();
    assert!(html.contains("no model: the hunted data is its own baseline"));
    let page = render(&browser, &hunted, HIGH);
    assert!(page.console.is_empty() && page.loads.is_empty(), "{:?} {:?}", page.console, page.loads);
    assert!(page.ink > 0.03, "hunt report nearly blank: {:.4}", page.ink);
}

/// The checks above can fail: a page with a console error, a fetched image and nothing
/// drawn is caught on each count.
#[test]
fn the_browser_checks_catch_a_broken_page() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.html");
    std::fs::write(
        &broken,
        "<!DOCTYPE html><html><body><img src=\"missing.png\"><script>console.error(\"boom\");</script></body></html>",
    )
    .unwrap();
    let page = render(&browser, &broken, HIGH);
    assert!(page.console.iter().any(|l| l.contains("boom")), "console error not seen: {:?}", page.console);
    assert!(page.loads.iter().any(|l| l.ends_with("missing.png")), "image load not seen: {:?}", page.loads);
    assert!(page.ink < 0.001, "a blank page inked {:.4}", page.ink);
    assert_eq!(page.exact, 0);
}

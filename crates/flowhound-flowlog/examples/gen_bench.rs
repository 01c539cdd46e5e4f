//! Writes a benchmark tree of realistic version-2 flow logs in the AWS S3 key layout:
//! one gzip object per 5-minute bucket, header line first, records of a few hundred
//! interfaces interleaved as AWS delivers them, with NODATA/SKIPDATA sprinkled in.
//!
//! ```text
//! cargo run --release -p flowhound-flowlog --example gen_bench -- OUT_DIR [RECORDS] [OBJECTS] [--plain] [--realistic-peers]
//! ```
//! The output is a pure function of the arguments, so runs are comparable.
//!
//! By default peers are drawn uniformly from ~260 000 internal and ~3.6 billion external
//! addresses (hard on a reader's address parsing, unrealistic for anything grouping by host).
//! `--realistic-peers` draws them as a VPC sees them: internal peers are the other
//! monitored interfaces, a few of them (databases, caches, load balancers) far more
//! popular than the rest; external peers are mostly a skewed set of 2 000 popular
//! destinations (APIs, CDNs, repositories) with a 5 % long tail of one-off addresses.
//! The line format is the same either way.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flate2::Compression;
use flate2::write::GzEncoder;
use rayon::prelude::*;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const FLOW_LOG_ID: &str = "fl-0a1b2c3d4e5f60718";
/// 2026-11-20T00:00:00Z: the first object's 5-minute bucket.
const T0: u64 = 1_795_132_800;
const INTERFACES: u64 = 400;
const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";

/// SplitMix64: tiny, fast and good enough to make traffic look varied.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: gen_bench OUT_DIR [RECORDS=10000000] [OBJECTS=20] [--plain] [--realistic-peers]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plain = args.iter().any(|a| a == "--plain");
    let peers = if args.iter().any(|a| a == "--realistic-peers") { Peers::Realistic } else { Peers::Uniform };
    if let Some(unknown) = args.iter().find(|a| a.starts_with("--") && *a != "--plain" && *a != "--realistic-peers") {
        eprintln!("gen_bench: unknown flag {unknown}");
        return usage();
    }
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(out) = positional.first() else { return usage() };
    let records: u64 = match positional.get(1).map(|s| s.parse()) {
        None => 10_000_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage(),
    };
    let objects: u64 = match positional.get(2).map(|s| s.parse()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => return usage(),
    };
    let result = (0..objects).into_par_iter().try_for_each(|index| {
        let count = records / objects + u64::from(index < records % objects);
        write_object(Path::new(out.as_str()), index, count, plain, peers)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gen_bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn object_path(out: &Path, bucket: u64, plain: bool) -> PathBuf {
    let (y, m, d) = flowhound_flowlog::time::civil_from_days((bucket / 86_400) as i64);
    let hh = bucket / 3600 % 24;
    let mm = bucket / 60 % 60;
    let ext = if plain { "log" } else { "log.gz" };
    out.join(format!("AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{y:04}/{m:02}/{d:02}")).join(format!(
        "{ACCOUNT}_vpcflowlogs_{REGION}_{FLOW_LOG_ID}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{:08x}.{ext}",
        bucket.wrapping_mul(2_654_435_761) as u32
    ))
}

/// How peers are drawn (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peers {
    Uniform,
    Realistic,
}

/// Popular external destinations under `--realistic-peers`.
const POPULAR_EXTERNAL: u64 = 2_000;

fn write_object(out: &Path, index: u64, count: u64, plain: bool, peers: Peers) -> std::io::Result<()> {
    let bucket = T0 + index * 300;
    let path = object_path(out, bucket, plain);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
    if plain {
        let mut w = file;
        write_records(&mut w, index, bucket, count, peers)?;
        w.flush()
    } else {
        let mut w = GzEncoder::new(file, Compression::default());
        write_records(&mut w, index, bucket, count, peers)?;
        w.finish()?.flush()
    }
}

fn write_records(w: &mut impl Write, index: u64, bucket: u64, count: u64, peers: Peers) -> std::io::Result<()> {
    let mut rng = Rng(0x5eed ^ index.wrapping_mul(0x1000_0000_01b3));
    w.write_all(HEADER.as_bytes())?;
    let mut line = String::with_capacity(160);
    for _ in 0..count {
        line.clear();
        render(&mut line, &mut rng, bucket, peers);
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The local address of interface `eni`.
fn local_address(eni: u64) -> String {
    format!("10.20.{}.{}", eni / 200, 4 + eni % 200)
}

fn render(line: &mut String, rng: &mut Rng, bucket: u64, peers: Peers) {
    use std::fmt::Write as _;
    // Interface popularity is skewed, as in a real VPC: a few busy ENIs, a long tail.
    let eni = rng.below(INTERFACES).min(rng.below(INTERFACES));
    // Real ENI ids look random; a hash of the number makes them so.
    let eni_id = (eni + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 4;
    let end = bucket + rng.below(300);
    let start = end - rng.below(60).min(end);
    let status_roll = rng.below(1000);
    if status_roll < 8 {
        let status = if status_roll < 6 { "NODATA" } else { "SKIPDATA" };
        let _ = writeln!(line, "2 {ACCOUNT} eni-0{eni_id:016x} - - - - - - - {start} {end} - {status}");
        return;
    }
    let internal = |rng: &mut Rng| match peers {
        Peers::Uniform => format!("10.{}.{}.{}", rng.below(4) * 10 + 10, rng.below(256), 1 + rng.below(254)),
        // The minimum of three uniform draws: popularity falls from 3x the uniform share at
        // interface 0 to almost nothing at the last.
        Peers::Realistic => local_address(rng.below(INTERFACES).min(rng.below(INTERFACES)).min(rng.below(INTERFACES))),
    };
    let any_external =
        |rng: &mut Rng| format!("{}.{}.{}.{}", 1 + rng.below(223), rng.below(256), rng.below(256), 1 + rng.below(254));
    let external = |rng: &mut Rng| match peers {
        Peers::Realistic if rng.below(100) >= 5 => {
            // A fixed scatter of popular addresses, the lowest-numbered the most popular.
            let n = rng.below(POPULAR_EXTERNAL).min(rng.below(POPULAR_EXTERNAL)).min(rng.below(POPULAR_EXTERNAL));
            let h = (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
            format!("{}.{}.{}.{}", 1 + h % 223, (h >> 8) % 256, (h >> 16) % 256, 1 + (h >> 24) % 254)
        }
        _ => any_external(rng),
    };
    let local = local_address(eni);
    let mut peer = if rng.below(10) < 6 { internal(rng) } else { external(rng) };
    if peer == local {
        peer = local_address((eni + 1) % INTERFACES);
    }
    let (protocol, service) = match rng.below(100) {
        0..=74 => (6, [443, 80, 22, 5432, 3306, 8080, 6379, 3389][rng.below(8) as usize]),
        75..=96 => (17, [53, 123, 514, 4789][rng.below(4) as usize]),
        _ => (1, 0),
    };
    let ephemeral = 32_768 + rng.below(28_232);
    let outbound = rng.below(2) == 0;
    let (src, dst, sport, dport) = if protocol == 1 {
        (local.clone(), peer, 0, 0)
    } else if outbound {
        (local.clone(), peer, ephemeral, service)
    } else {
        (peer, local.clone(), ephemeral, service)
    };
    let packets = 1 + (rng.below(1 << 20) as f64).powf(0.5) as u64 * rng.below(3);
    let bytes = packets * (40 + rng.below(1460));
    let action = if rng.below(100) < 92 { "ACCEPT" } else { "REJECT" };
    let _ = writeln!(
        line,
        "2 {ACCOUNT} eni-0{eni_id:016x} {src} {dst} {sport} {dport} {protocol} {packets} {bytes} {start} {end} {action} OK"
    );
}

//! The reader alone: every object read with [`read_stream`] into a sink that ignores
//! the records, one object after the other on one thread. `inspect` without its
//! scan, merging and output, for profiling the parser under callgrind without
//! rebuilding the `flowhound` binary and the crates above this one.
//!
//! ```text
//! cargo run --release -p flowhound-flowlog --example read_objects -- FILE_OR_DIR...
//! ```
//! Prints `records=<n> malformed=<n> seconds=<wall> records_per_sec=<n>`. `STREAM=1`
//! streams gzip objects instead of inflating them in memory.

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use flowhound_flowlog::{Location, NullSink, ReadOptions, discover_local, read_stream};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: read_objects FILE_OR_DIR...");
        return ExitCode::from(2);
    }
    let mut objects = Vec::new();
    for arg in &args {
        match discover_local(arg) {
            Ok(found) => objects.extend(found),
            Err(err) => {
                eprintln!("read_objects: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let mut opts = ReadOptions::default();
    if std::env::var_os("STREAM").is_some_and(|v| v == "1") {
        opts.in_memory_gzip_bytes = 0;
    }
    let started = Instant::now();
    let (mut records, mut malformed) = (0u64, 0u64);
    for object in &objects {
        let Location::Local(path) = &object.location else { continue };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) => {
                eprintln!("read_objects: {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        };
        let report = read_stream(&path.display().to_string(), file, &opts, &mut NullSink);
        if let Some(error) = report.error {
            eprintln!("read_objects: {error}");
            return ExitCode::FAILURE;
        }
        records += report.records;
        malformed += report.malformed;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "records={records} malformed={malformed} seconds={seconds:.4} records_per_sec={:.0}",
        records as f64 / seconds
    );
    ExitCode::SUCCESS
}

//! The decompression ceiling for `inspect`: decompresses gzip objects with the same
//! backend and buffer size as the reader (flate2 on zlib-rs, multi-member) and only
//! counts lines, on a pool of THREADS workers, one object per task.
//!
//! ```text
//! cargo run --release -p flowhound-flowlog --example gunzip_lines -- THREADS FILE_OR_DIR...
//! ```
//! Prints `lines=<n> bytes=<decompressed> seconds=<wall> lines_per_sec=<n>`.

use std::fs::File;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use flate2::bufread::MultiGzDecoder;
use rayon::prelude::*;

fn count(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let file = std::io::BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut decoder = MultiGzDecoder::new(file);
    let mut buf = vec![0u8; 256 * 1024];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let n = decoder.read(&mut buf)?;
        if n == 0 {
            return Ok((lines, bytes));
        }
        bytes += n as u64;
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(threads) = args.first().and_then(|t| t.parse::<usize>().ok()) else {
        eprintln!("usage: gunzip_lines THREADS FILE_OR_DIR...");
        return ExitCode::from(2);
    };
    let mut objects = Vec::new();
    for arg in &args[1..] {
        match flowhound_flowlog::discover_local(arg) {
            Ok(found) => objects.extend(found),
            Err(err) => {
                eprintln!("gunzip_lines: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("gunzip_lines: {err}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let totals = pool.install(|| {
        objects
            .par_iter()
            .map(|o| match &o.location {
                flowhound_flowlog::Location::Local(path) => count(path),
                _ => Ok((0, 0)),
            })
            .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
    });
    let seconds = started.elapsed().as_secs_f64();
    match totals {
        Ok((lines, bytes)) => {
            println!("lines={lines} bytes={bytes} seconds={seconds:.4} lines_per_sec={:.0}", lines as f64 / seconds);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gunzip_lines: {err}");
            ExitCode::FAILURE
        }
    }
}

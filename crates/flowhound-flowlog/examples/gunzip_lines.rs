//! The decompression ceiling for `inspect`: decompresses gzip objects the way the reader
//! does by default (objects within 256 MiB read whole and inflated in memory by
//! libdeflate, the others streamed by flate2 on zlib-rs with the reader's buffer size) and
//! only counts lines, on a pool of THREADS workers, one object per task. `STREAM=1`
//! streams every object, the reader's path before the in-memory one.
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
use flowhound_flowlog::{DEFAULT_IN_MEMORY_GZIP_BYTES, GzipInMemory};
use rayon::prelude::*;

thread_local! {
    static IN_MEMORY: std::cell::RefCell<(Vec<u8>, GzipInMemory)> = Default::default();
}

fn count(path: &std::path::Path, in_memory: bool) -> std::io::Result<(u64, u64)> {
    if in_memory {
        let counted = IN_MEMORY.with_borrow_mut(|(compressed, gzip)| {
            compressed.clear();
            File::open(path)?.read_to_end(compressed)?;
            let lines = gzip
                .inflate(compressed, DEFAULT_IN_MEMORY_GZIP_BYTES)
                .map(|text| (memchr::memchr_iter(b'\n', text).count() as u64, text.len() as u64));
            Ok::<_, std::io::Error>(lines)
        })?;
        if let Some(counted) = counted {
            return Ok(counted);
        }
    }
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
    let in_memory = std::env::var_os("STREAM").is_none_or(|v| v != "1");
    let started = Instant::now();
    let totals = pool.install(|| {
        objects
            .par_iter()
            .map(|o| match &o.location {
                flowhound_flowlog::Location::Local(path) => count(path, in_memory),
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

//! Inflate backends side by side on the same gzip objects, one thread, counting lines
//! only: the evaluation behind the reader's in-memory gzip path (BENCHMARKS.md, Reader).
//!
//! ```text
//! cargo run --release -p flowhound-flowlog --example inflate_compare -- METHOD FILE_OR_DIR...
//! ```
//! METHOD is `stream` (flate2 on zlib-rs, 256 KiB reads: the streaming path),
//! `zlib-rs-whole` (zlib-rs, whole object in one call into a buffer of the declared size)
//! or `libdeflate` (the same with libdeflate). Every object is read into memory first
//! except by `stream`. Prints `method=.. lines=.. bytes=.. seconds=.. lines_per_sec=..`.

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, Read};
use std::time::Instant;

use flate2::bufread::MultiGzDecoder;
use flate2::{Decompress, FlushDecompress};
use flowhound_flowlog::{Location, discover_local};

/// The size the gzip trailer declares (the last member's, mod 2^32).
fn declared_size(compressed: &[u8]) -> Result<usize, Box<dyn Error>> {
    let tail = compressed.len().checked_sub(4).ok_or("object shorter than a gzip trailer")?;
    Ok(u32::from_le_bytes(compressed[tail..].try_into()?) as usize)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(method) = args.first() else {
        return Err("usage: inflate_compare stream|zlib-rs-whole|libdeflate FILE_OR_DIR...".into());
    };
    let mut objects = Vec::new();
    for arg in &args[1..] {
        objects.extend(discover_local(arg)?);
    }
    let started = Instant::now();
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut compressed = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut libdeflate = libdeflater::Decompressor::new();
    for object in &objects {
        let Location::Local(path) = &object.location else { continue };
        let len = match method.as_str() {
            "stream" => {
                let mut decoder = MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, File::open(path)?));
                text.resize(256 * 1024, 0);
                loop {
                    let n = decoder.read(&mut text)?;
                    if n == 0 {
                        break;
                    }
                    bytes += n as u64;
                    lines += memchr::memchr_iter(b'\n', &text[..n]).count() as u64;
                }
                continue;
            }
            "zlib-rs-whole" => {
                compressed.clear();
                File::open(path)?.read_to_end(&mut compressed)?;
                text.resize(declared_size(&compressed)? + 1, 0);
                let mut inflater = Decompress::new_gzip(15);
                inflater.decompress(&compressed, &mut text, FlushDecompress::Finish)?;
                inflater.total_out() as usize
            }
            "libdeflate" => {
                compressed.clear();
                File::open(path)?.read_to_end(&mut compressed)?;
                text.resize(declared_size(&compressed)?, 0);
                libdeflate.gzip_decompress(&compressed, &mut text)?
            }
            other => return Err(format!("unknown method {other}").into()),
        };
        bytes += len as u64;
        lines += memchr::memchr_iter(b'\n', &text[..len]).count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "method={method} lines={lines} bytes={bytes} seconds={seconds:.4} lines_per_sec={:.0}",
        lines as f64 / seconds
    );
    Ok(())
}

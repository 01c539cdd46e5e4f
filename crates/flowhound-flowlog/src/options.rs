//! What reading an object is asked to do, whatever its format: the limits and filters
//! of [`ReadOptions`], and their defaults.

use crate::parse::Schema;

/// Limits and filters applied while reading.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Keep records with `start >= from` (epoch seconds).
    pub from: Option<u64>,
    /// Keep records with `start < to`.
    pub to: Option<u64>,
    /// Longer lines are skipped and counted as malformed.
    pub max_line_bytes: usize,
    /// Decompressed bytes per object after which reading stops (decompression-bomb guard).
    pub max_decompressed_bytes: u64,
    /// Malformed lines reported with file and line number, per object.
    pub malformed_samples: usize,
    /// The field order of lines before the first header (default: version 2).
    pub default_schema: Schema,
    /// Gzip objects whose compressed size and declared (trailer) decompressed size are both
    /// at most this many bytes are inflated in one call into a buffer reused per thread
    /// (libdeflate, ~25 % fewer instructions than streaming) and parsed in place; larger
    /// and multi-member objects, and any that fail in memory, are streamed in constant
    /// memory. 0 streams every object. [`read_stream`](crate::read_stream) honours it; stdin is always streamed.
    pub in_memory_gzip_bytes: u64,
}

/// The default of [`ReadOptions::in_memory_gzip_bytes`]: S3 flow-log objects are at most a
/// few hundred MB decompressed, most far less.
pub const DEFAULT_IN_MEMORY_GZIP_BYTES: u64 = 256 * 1024 * 1024;

/// The default of [`ReadOptions::max_line_bytes`]: lines over 64 KiB are malformed.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// The default of [`ReadOptions::max_decompressed_bytes`]: far above any real flow-log
/// object, far below what a decompression bomb would inflate to.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 16 * 1024 * 1024 * 1024;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            from: None,
            to: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            malformed_samples: 5,
            default_schema: Schema::default_v2(),
            in_memory_gzip_bytes: DEFAULT_IN_MEMORY_GZIP_BYTES,
        }
    }
}

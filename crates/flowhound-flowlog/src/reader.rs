//! Reading one object (file, stdin or remote stream) into records: format sniffing,
//! gzip inflated in memory (libdeflate) or streamed with a decompression limit, line
//! framing with a line-length limit. Parquet objects are handed to the Parquet reader;
//! both count what they read into an [`ObjectReport`] through the same accounting.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use flate2::bufread::MultiGzDecoder;

use crate::accounting::Accounting;
use crate::options::ReadOptions;
use crate::parse::{LineError, LineKind, LineParser};
use crate::record::FlowRecord;
use crate::report::{ObjectError, ObjectFormat, ObjectReport};
use crate::sink::RecordSink;

const READ_BUFFER: usize = 256 * 1024;

/// The buffer plain-text lines are framed and parsed in: four times the input buffer,
/// so that reads bypass the `BufReader` instead of copying through it. Gzip output goes
/// to a buffer of `READ_BUFFER` bytes: the larger one cost zlib-rs ~60 instructions more
/// per record (callgrind).
const TEXT_LINE_BUFFER: usize = 4 * READ_BUFFER;

// The text reader's end of an object is here, not with the rest of the accounting,
// because the failures it reports are the reader's own.
impl Accounting<'_> {
    /// Ends an object [`read_lines`] read: its sizes, its failure if any (placed at
    /// `failure_offset`), the sink's end of object, and the report.
    fn end_lines<S: RecordSink + ?Sized>(
        mut self,
        outcome: Result<(), Failure>,
        bytes_read: u64,
        bytes_decompressed: u64,
        failure_offset: u64,
        parser: &LineParser,
        sink: &mut S,
    ) -> ObjectReport {
        self.report.bytes_read = bytes_read;
        self.report.bytes_decompressed = bytes_decompressed;
        if let Err(failure) = outcome {
            let error = failure.into_error(&self.report.name, failure_offset, self.opts.max_decompressed_bytes);
            self.report.error = Some(error);
        }
        sink.end_object(&parser.interner);
        self.finish(&parser.interner)
    }
}

/// Counts the bytes that pass through, so a gzip error can name its compressed offset.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads one object from a byte stream: sniffs gzip/Parquet/text, parses every record
/// into `sink`, and reports what it found. Never panics on bad input; a failure ends
/// the object with `report.error` set, keeping what was read before it. Gzip objects
/// within [`ReadOptions::in_memory_gzip_bytes`] are inflated in memory.
pub fn read_stream<S: RecordSink + ?Sized>(
    name: &str,
    reader: impl Read,
    opts: &ReadOptions,
    sink: &mut S,
) -> ObjectReport {
    read_stream_limited(name, reader, opts, opts.in_memory_gzip_bytes, sink)
}

/// [`read_stream`] with its own in-memory gzip limit: 0 streams (stdin, whose size is
/// unknown; objects known to be larger than [`ReadOptions::in_memory_gzip_bytes`]).
pub(crate) fn read_stream_limited<S: RecordSink + ?Sized>(
    name: &str,
    reader: impl Read,
    opts: &ReadOptions,
    in_memory_limit: u64,
    sink: &mut S,
) -> ObjectReport {
    let mut input = BufReader::with_capacity(READ_BUFFER, Counting { inner: reader, count: 0 });
    let head = match fill_at_least(&mut input, 4) {
        Ok(head) => head,
        Err(err) => {
            let mut report = ObjectReport { name: name.to_string(), ..ObjectReport::default() };
            report.error = Some(ObjectError::Io { object: name.to_string(), message: err.to_string() });
            return report;
        }
    };
    if head.starts_with(&[0x1f, 0x8b]) {
        if in_memory_limit == 0 {
            return read_gzip_stream(name, input, opts, sink);
        }
        let mut buffers = IN_MEMORY_BUFFERS.with(Cell::take).unwrap_or_default();
        let report = read_gzip_in_memory(name, input, opts, in_memory_limit, &mut buffers, sink);
        IN_MEMORY_BUFFERS.with(|cell| cell.set(Some(buffers)));
        report
    } else if head.starts_with(b"PAR1") {
        let mut bytes = Vec::new();
        let limit = opts.max_decompressed_bytes;
        let read = (&mut input).take(limit.saturating_add(1)).read_to_end(&mut bytes);
        if let Err(err) = read {
            let mut report =
                ObjectReport { name: name.to_string(), format: ObjectFormat::Parquet, ..Default::default() };
            report.error = Some(ObjectError::Io { object: name.to_string(), message: err.to_string() });
            return report;
        }
        if bytes.len() as u64 > limit {
            let mut report =
                ObjectReport { name: name.to_string(), format: ObjectFormat::Parquet, ..Default::default() };
            report.error = Some(ObjectError::TooLarge { object: name.to_string(), limit, line: 0 });
            return report;
        }
        crate::parquet::read_parquet(name, bytes::Bytes::from(bytes), opts, sink)
    } else {
        let mut acc = Accounting::new(name, ObjectFormat::Text, opts);
        let mut limited = Limited { inner: input, remaining: opts.max_decompressed_bytes, total: 0 };
        let mut parser = LineParser::with_schema(opts.default_schema.clone());
        let source = LineSource::Stream { reader: &mut limited, buffer: TEXT_LINE_BUFFER };
        let outcome = read_lines(source, &mut parser, &mut acc, sink);
        // A failure in text is placed by its decompressed (here: plain) offset.
        acc.end_lines(outcome, limited.inner.get_ref().count, limited.total, limited.total, &parser, sink)
    }
}

/// Streams a gzip object (every member) through the decompression limit, in constant memory.
fn read_gzip_stream<R: Read, S: RecordSink + ?Sized>(
    name: &str,
    input: BufReader<Counting<R>>,
    opts: &ReadOptions,
    sink: &mut S,
) -> ObjectReport {
    let mut acc = Accounting::new(name, ObjectFormat::Gzip, opts);
    let decoder = MultiGzDecoder::new(input);
    let mut limited = Limited { inner: decoder, remaining: opts.max_decompressed_bytes, total: 0 };
    let mut parser = LineParser::with_schema(opts.default_schema.clone());
    let outcome =
        read_lines(LineSource::Stream { reader: &mut limited, buffer: READ_BUFFER }, &mut parser, &mut acc, sink);
    // A failure in gzip is placed by its compressed offset: where the damage is.
    let read = limited.inner.get_ref().get_ref().count;
    acc.end_lines(outcome, read, limited.total, read, &parser, sink)
}

/// Inflates single-member gzip objects in one call (libdeflate) into a buffer it reuses
/// from object to object, as the reader does for objects within
/// [`ReadOptions::in_memory_gzip_bytes`].
#[derive(Default)]
pub struct GzipInMemory {
    text: Vec<u8>,
    inflater: Option<libdeflater::Decompressor>,
}

impl std::fmt::Debug for GzipInMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipInMemory").field("buffer", &self.text.len()).finish_non_exhaustive()
    }
}

impl GzipInMemory {
    /// The decompressed text of `compressed` if it is one gzip member, sound, and neither
    /// its compressed nor its declared decompressed size is over `limit`; `None` when it
    /// must be streamed instead (damaged, multi-member, too large).
    pub fn inflate(&mut self, compressed: &[u8], limit: u64) -> Option<&[u8]> {
        let inflater = self.inflater.get_or_insert_with(libdeflater::Decompressor::new);
        let len = inflate_in_memory(compressed, &mut self.text, inflater, limit).ok()?;
        Some(&self.text[..len])
    }
}

/// The buffers of the in-memory gzip path, one set per thread, reused from object to
/// object: memory stays at one object (compressed and decompressed) per worker thread.
#[derive(Default)]
struct InMemoryBuffers {
    compressed: Vec<u8>,
    gzip: GzipInMemory,
}

thread_local! {
    static IN_MEMORY_BUFFERS: Cell<Option<InMemoryBuffers>> = const { Cell::new(None) };
}

/// Reads the whole compressed object (up to `limit` bytes) and inflates it in one call;
/// anything [`inflate_in_memory`] declines is streamed from the start, so every error is
/// reported exactly as the streaming path reports it.
fn read_gzip_in_memory<R: Read, S: RecordSink + ?Sized>(
    name: &str,
    mut input: BufReader<Counting<R>>,
    opts: &ReadOptions,
    limit: u64,
    buffers: &mut InMemoryBuffers,
    sink: &mut S,
) -> ObjectReport {
    let compressed = &mut buffers.compressed;
    compressed.clear();
    let read_error = (&mut input).take(limit.saturating_add(1)).read_to_end(compressed).err();
    if read_error.is_none()
        && let Some(text) = buffers.gzip.inflate(compressed, limit.min(opts.max_decompressed_bytes))
    {
        return parse_in_memory(name, compressed.len() as u64, text, opts, sink);
    }
    // The bytes already read come first, then the rest of the object; a read error is
    // replayed where it happened, after the records before it are parsed.
    let rest = Replay { error: read_error, inner: input };
    read_gzip_stream(
        name,
        BufReader::with_capacity(READ_BUFFER, Counting { inner: Cursor::new(&compressed[..]).chain(rest), count: 0 }),
        opts,
        sink,
    )
}

/// A reader that fails once with `error`, if any, before reading on from `inner`.
struct Replay<R> {
    error: Option<io::Error>,
    inner: R,
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.error.take() {
            Some(err) => Err(err),
            None => self.inner.read(buf),
        }
    }
}

/// Why a gzip object is not inflated in memory (it is streamed instead).
#[derive(Debug, PartialEq)]
enum NotInMemory {
    /// Shorter than a gzip header and trailer.
    TooShort,
    /// The compressed or the declared decompressed size is over the limit.
    TooLarge,
    /// The declared decompressed size is more than deflate can expand the data to.
    ImplausibleSize,
    /// libdeflate found the data corrupt, or the declared size too small.
    Inflate(libdeflater::DecompressionError),
    /// The first member is not the whole object (more members, trailing bytes, or a
    /// trailer size that does not match).
    NotOneMember,
}

/// The most a deflate stream can expand: 258-byte matches coded in 2 bits each (zlib's
/// technical details, "maximum compression factor").
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The smallest gzip member: 10-byte header, an empty deflate block, 8-byte trailer.
const GZIP_MIN_MEMBER: usize = 20;

/// Inflates a single-member gzip object into `text` (grown to the size its trailer
/// declares, never above `limit`) and returns the decompressed length.
///
/// libdeflate inflates the first member only, checking its CRC-32 and size against that
/// member's own trailer, and does not say where the member ended. The member is the
/// whole object when its trailer is the object's last 8 bytes: the member's size field
/// holds the inflated length (mod 2^32, and the length is below `limit` < 4 GiB), so if
/// that length is what the object's last 4 bytes declare, and those 4 bytes occur
/// nowhere earlier in the object, the member can only end at the object's end. A chance
/// earlier occurrence (about one object in 300 of 14 MB) only sends it to the streaming path.
fn inflate_in_memory(
    compressed: &[u8],
    text: &mut Vec<u8>,
    inflater: &mut libdeflater::Decompressor,
    limit: u64,
) -> Result<usize, NotInMemory> {
    if compressed.len() < GZIP_MIN_MEMBER {
        return Err(NotInMemory::TooShort);
    }
    let size_field = &compressed[compressed.len() - 4..];
    let declared = u64::from(u32::from_le_bytes([size_field[0], size_field[1], size_field[2], size_field[3]]));
    let limit = limit.min(u64::from(u32::MAX));
    if declared > limit || compressed.len() as u64 > limit {
        return Err(NotInMemory::TooLarge);
    }
    // The trailer is read before the data it describes, so it cannot be trusted with an
    // allocation: deflate expands at most 1032-fold, and a larger claim is a lie (40
    // such objects made the readers allocate 537 MB). The streaming path then reads it
    // in constant memory and reports what is really wrong.
    if declared > (compressed.len() as u64).saturating_mul(MAX_DEFLATE_RATIO) {
        return Err(NotInMemory::ImplausibleSize);
    }
    let declared = declared as usize;
    if text.len() < declared {
        // Grown, never shrunk: a reused buffer is not zeroed again.
        text.resize(declared, 0);
    }
    let len = inflater.gzip_decompress(compressed, &mut text[..declared]).map_err(NotInMemory::Inflate)?;
    let ends_earlier = memchr::memmem::find(&compressed[..compressed.len() - 1], size_field).is_some();
    if len != declared || ends_earlier {
        return Err(NotInMemory::NotOneMember);
    }
    Ok(len)
}

/// Parses an object inflated in memory, in place.
fn parse_in_memory<S: RecordSink + ?Sized>(
    name: &str,
    compressed_len: u64,
    text: &[u8],
    opts: &ReadOptions,
    sink: &mut S,
) -> ObjectReport {
    let mut acc = Accounting::new(name, ObjectFormat::Gzip, opts);
    let mut parser = LineParser::with_schema(opts.default_schema.clone());
    let outcome = read_lines(LineSource::<io::Empty>::Whole(text), &mut parser, &mut acc, sink);
    acc.end_lines(outcome, compressed_len, text.len() as u64, compressed_len, &parser, sink)
}

fn fill_at_least<R: BufRead>(input: &mut R, n: usize) -> io::Result<Vec<u8>> {
    // BufReader only refills when empty; one fill_buf of a fresh reader returns what a
    // single read gave, which may be shorter than n for pipes. Peek byte-wise then.
    let buf = input.fill_buf()?;
    if buf.len() >= n || buf.is_empty() {
        return Ok(buf[..buf.len().min(n)].to_vec());
    }
    Ok(buf.to_vec())
}

/// Caps the bytes a reader may yield.
struct Limited<R> {
    inner: R,
    remaining: u64,
    total: u64,
}

#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed size limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Only an error if there is more to read.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(LimitExceeded)),
            };
        }
        let max = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        self.total += n as u64;
        Ok(n)
    }
}

/// How reading the lines of an object ended early.
enum Failure {
    Io { err: io::Error, line: u64 },
    Binary { offset: u64 },
}

impl Failure {
    fn into_error(self, name: &str, offset: u64, limit: u64) -> ObjectError {
        match self {
            Failure::Binary { offset } => ObjectError::Binary { object: name.to_string(), offset },
            Failure::Io { err, line } => {
                let is_limit = err.get_ref().is_some_and(|e| e.is::<LimitExceeded>());
                if is_limit {
                    ObjectError::TooLarge { object: name.to_string(), limit, line }
                } else if matches!(
                    err.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) {
                    ObjectError::Corrupt { object: name.to_string(), offset, line, message: gzip_message(&err) }
                } else {
                    ObjectError::Io { object: name.to_string(), message: err.to_string() }
                }
            }
        }
    }
}

/// flate2 reports a CRC-32 and a size that disagree with the data in the same words,
/// "does not have a matching checksum": name both, since a trailer whose size field lies
/// (the data intact) is as likely as damaged data.
fn gzip_message(err: &io::Error) -> String {
    let message = err.to_string();
    if message.contains("matching checksum") {
        "the gzip trailer (CRC-32 and decompressed size) does not match the data: the object is damaged or its trailer altered".to_string()
    } else {
        message
    }
}

/// Bytes at the start of an object [`sniff_binary`] looks at.
const BINARY_SNIFF: usize = 4096;

/// Where [`read_lines`] gets its text.
enum LineSource<'a, R> {
    /// Read into a buffer of `buffer` bytes (or one line over the limit if that is more),
    /// carrying an unfinished line over to the next read.
    Stream { reader: &'a mut R, buffer: usize },
    /// The whole object, already in memory: framed and parsed in place.
    Whole(&'a [u8]),
}

/// Frames lines (up to `max_line_bytes`), parses and accounts them. A line cut off by
/// a read error is discarded, never parsed: a truncated number would parse as a wrong one.
fn read_lines<R: Read, S: RecordSink + ?Sized>(
    source: LineSource<'_, R>,
    parser: &mut LineParser,
    acc: &mut Accounting<'_>,
    sink: &mut S,
) -> Result<(), Failure> {
    let max_line = acc.opts.max_line_bytes.max(1);
    let mut lines = LineState { line_no: 0, generation: u64::MAX, record: FlowRecord::default() };
    // Length of an over-long line being skipped, if any.
    let mut skipping: Option<usize> = None;
    let (reader, line_buffer) = match source {
        LineSource::Whole(text) => {
            sniff_binary(text)?;
            frame_lines(text, true, max_line, &mut skipping, &mut lines, parser, acc, sink);
            return Ok(());
        }
        LineSource::Stream { reader, buffer } => (reader, buffer),
    };
    let capacity = line_buffer.max(max_line + 1);
    let mut buf = vec![0u8; capacity];
    let mut filled = 0usize;
    let mut sniffed = false;
    loop {
        let n = loop {
            match reader.read(&mut buf[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Failure::Io { err, line: lines.line_no }),
            }
        };
        if !sniffed && (n > 0 || filled > 0) {
            sniff_binary(&buf[..filled + n])?;
            sniffed = true;
        }
        let eof = n == 0;
        let end = filled + n;
        let start = frame_lines(&buf[..end], eof, max_line, &mut skipping, &mut lines, parser, acc, sink);
        if eof {
            return Ok(());
        }
        let rest = end - start;
        if rest > max_line || skipping.is_some() {
            // The line in progress is already too long: drop what we hold of it.
            *skipping.get_or_insert(0) += rest;
            filled = 0;
        } else {
            buf.copy_within(start..end, 0);
            filled = rest;
        }
    }
}

/// An object is binary, not text with a damaged stretch, when its first 4 KiB hold a NUL
/// and at least an eighth of those bytes are not text (controls other than tab, CR and
/// LF, or bytes from 0x7f up): compressed data, images and archives are, flow-log text is
/// not. A stray NUL in text only spoils the lines it is on; they are counted as malformed.
fn sniff_binary(head: &[u8]) -> Result<(), Failure> {
    let window = &head[..head.len().min(BINARY_SNIFF)];
    let Some(pos) = memchr::memchr(0, window) else { return Ok(()) };
    let non_text = window.iter().filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b >= 0x7f).count();
    if non_text * 8 >= window.len() { Err(Failure::Binary { offset: pos as u64 }) } else { Ok(()) }
}

/// Handles every complete line of `text`, and at `eof` the unterminated last one too;
/// returns where the unhandled rest starts. `skipping` carries the length of an
/// over-long line across calls.
#[allow(clippy::too_many_arguments)]
fn frame_lines<S: RecordSink + ?Sized>(
    text: &[u8],
    eof: bool,
    max_line: usize,
    skipping: &mut Option<usize>,
    lines: &mut LineState,
    parser: &mut LineParser,
    acc: &mut Accounting<'_>,
    sink: &mut S,
) -> usize {
    let mut start = 0usize;
    loop {
        if skipping.is_none()
            && let Some(len) = lines.handle_record_line(&text[start..], max_line, parser, acc, sink)
        {
            start += len + 1;
            continue;
        }
        // At `eof` the unterminated last line (or the end of an over-long one being
        // skipped) ends at the end of the text.
        let line_end = match memchr::memchr(b'\n', &text[start..]) {
            Some(offset) => start + offset,
            None if eof && (start < text.len() || skipping.is_some()) => text.len(),
            None => return start,
        };
        let len = line_end - start;
        lines.line_no += 1;
        match skipping.take() {
            Some(skipped) => acc.malformed(lines.line_no, &LineError::TooLong { len: skipped + len, limit: max_line }),
            None if len > max_line => acc.malformed(lines.line_no, &LineError::TooLong { len, limit: max_line }),
            // The line with the rest of the text: its `\n` lets the parser read whole
            // words up to the line's end.
            None => lines.handle(&text[start..], len, parser, acc, sink),
        }
        if line_end == text.len() {
            return text.len();
        }
        start = line_end + 1;
    }
}

/// The state carried from line to line of one object.
struct LineState {
    line_no: u64,
    /// The parser's schema generation when its schema was last noted.
    generation: u64,
    /// Reused for every line: only the fields of the schema in force are written.
    record: FlowRecord,
}

impl LineState {
    /// Handles the line at the start of `text` if it is a record line the parser reads
    /// while finding its end ([`LineParser::parse_record_line`]): its length without the
    /// `\n`. `None`: frame the line and [`LineState::handle`] it.
    #[inline]
    fn handle_record_line<S: RecordSink + ?Sized>(
        &mut self,
        text: &[u8],
        max_line: usize,
        parser: &mut LineParser,
        acc: &mut Accounting<'_>,
        sink: &mut S,
    ) -> Option<usize> {
        // The first line of a schema goes the framed way, which notes the schema.
        if parser.schema_generation() != self.generation {
            return None;
        }
        let len = parser.parse_record_line(text, &mut self.record)?;
        if len > max_line {
            return None;
        }
        self.line_no += 1;
        if acc.record(&self.record) {
            sink.record(&self.record, &parser.interner);
        }
        Some(len)
    }

    #[inline]
    /// Handles the line `text[..len]`; `text` may go on past it (see [`LineParser::parse_line_in`]).
    fn handle<S: RecordSink + ?Sized>(
        &mut self,
        text: &[u8],
        len: usize,
        parser: &mut LineParser,
        acc: &mut Accounting<'_>,
        sink: &mut S,
    ) {
        let parsed = parser.parse_line_in(text, len, &mut self.record);
        if parser.schema_generation() != self.generation {
            self.generation = parser.schema_generation();
            if let Ok(schema) = parser.last_schema() {
                acc.note_schema(schema);
            }
            if !matches!(parsed, Ok(LineKind::Record)) {
                // A new header: fields it does not name must read as missing from now on.
                self.record = FlowRecord::default();
            }
        }
        match parsed {
            Ok(LineKind::Record) => {
                if acc.record(&self.record) {
                    sink.record(&self.record, &parser.interner);
                }
            }
            Ok(LineKind::Header) => acc.report.header_lines += 1,
            Ok(LineKind::Blank) => acc.report.blank_lines += 1,
            Err(err) => acc.malformed(self.line_no, &err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;
    use libdeflater::{DecompressionError, Decompressor};

    use super::{NotInMemory, ReadOptions, inflate_in_memory, read_stream};
    use crate::sink::NullSink;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn text(lines: u32) -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..lines {
            writeln!(
                text,
                "2 123456789012 eni-{:04} 10.0.0.{} 10.0.1.1 443 {} 6 1 40 {} {} ACCEPT OK",
                i % 97,
                i % 250,
                i,
                i,
                i
            )
            .unwrap();
        }
        text
    }

    fn inflate(compressed: &[u8], limit: u64) -> (Result<usize, NotInMemory>, Vec<u8>) {
        let mut out = Vec::new();
        let result = inflate_in_memory(compressed, &mut out, &mut Decompressor::new(), limit);
        (result, out)
    }

    fn set_trailer_u32(compressed: &mut [u8], from_end: usize, value: u32) {
        let at = compressed.len() - from_end;
        compressed[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn a_single_member_is_inflated_whole() {
        let plain = text(5000);
        let (result, out) = inflate(&gzip(&plain), 1 << 30);
        assert_eq!(result, Ok(plain.len()));
        assert_eq!(&out[..plain.len()], &plain[..]);
    }

    #[test]
    fn a_reused_larger_buffer_is_sliced_to_the_object() {
        let (big, small) = (text(5000), text(10));
        let mut out = Vec::new();
        let mut inflater = Decompressor::new();
        assert_eq!(inflate_in_memory(&gzip(&big), &mut out, &mut inflater, 1 << 30), Ok(big.len()));
        assert_eq!(inflate_in_memory(&gzip(&small), &mut out, &mut inflater, 1 << 30), Ok(small.len()));
        assert_eq!(&out[..small.len()], &small[..]);
        assert_eq!(out.len(), big.len(), "grown once, not shrunk");
    }

    #[test]
    fn a_truncated_member_with_a_plausible_trailer_is_declined() {
        let plain = text(5000);
        let full = gzip(&plain);
        let mut cut = full[..full.len() / 2].to_vec();
        cut.extend_from_slice(&full[full.len() - 8..]);
        assert_eq!(inflate(&cut, 1 << 30).0, Err(NotInMemory::Inflate(DecompressionError::BadData)));
        // Cut anywhere, the last 4 bytes declare a size the data does not have.
        assert!(inflate(&full[..full.len() - 3], 1 << 30).0.is_err());
        assert_eq!(inflate(&full[..12], 1 << 30).0, Err(NotInMemory::TooShort));
    }

    #[test]
    fn a_corrupt_crc_is_declined() {
        let mut compressed = gzip(&text(100));
        let at = compressed.len() - 8;
        compressed[at] ^= 1;
        assert_eq!(inflate(&compressed, 1 << 30).0, Err(NotInMemory::Inflate(DecompressionError::BadData)));
    }

    #[test]
    fn a_lying_size_is_declined_without_a_large_allocation() {
        let plain = text(1000);
        let len = plain.len() as u32;
        let mut compressed = gzip(&plain);
        set_trailer_u32(&mut compressed, 4, len - 1);
        assert_eq!(inflate(&compressed, 1 << 30).0, Err(NotInMemory::Inflate(DecompressionError::InsufficientSpace)));
        set_trailer_u32(&mut compressed, 4, len + 1);
        assert_eq!(inflate(&compressed, 1 << 30).0, Err(NotInMemory::Inflate(DecompressionError::BadData)));
        set_trailer_u32(&mut compressed, 4, u32::MAX);
        let (result, out) = inflate(&compressed, 1 << 30);
        assert_eq!(result, Err(NotInMemory::TooLarge));
        assert_eq!(out.capacity(), 0, "nothing allocated for a declared size over the limit");
        // Under the limit but more than deflate can expand these bytes to.
        set_trailer_u32(&mut compressed, 4, 256 << 20);
        let (result, out) = inflate(&compressed, 1 << 30);
        assert_eq!(result, Err(NotInMemory::ImplausibleSize));
        assert_eq!(out.capacity(), 0, "nothing allocated for an impossible declared size");
        // Streamed instead: every line is read, and the error names the size field.
        let report = read_stream("lying.gz", &compressed[..], &ReadOptions::default(), &mut NullSink);
        let error = report.error.expect("a lying trailer is an error").to_string();
        assert!(error.contains("trailer (CRC-32 and decompressed size) does not match"), "{error}");
        assert_eq!(report.records, 1000, "the lines before the trailer are all read");
    }

    #[test]
    fn a_nul_spoils_its_line_not_the_object() {
        let mut plain = text(5);
        let third = plain.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 5;
        plain[third] = 0;
        for object in [plain.clone(), gzip(&plain)] {
            let report = read_stream("nul.log", &object[..], &ReadOptions::default(), &mut NullSink);
            assert_eq!((report.records, report.malformed), (4, 1), "{report:?}");
            assert_eq!(report.error, None);
        }
        // Binary data is still refused as a whole, naming where it starts.
        let binary: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let report = read_stream("image.bin", &binary[..], &ReadOptions::default(), &mut NullSink);
        assert!(matches!(report.error, Some(crate::ObjectError::Binary { .. })), "{report:?}");
    }

    #[test]
    fn multi_member_objects_are_declined() {
        let plain = text(3000);
        let mut two = gzip(&plain[..1000]);
        two.extend(gzip(&plain[1000..]));
        assert_eq!(inflate(&two, 1 << 30).0, Err(NotInMemory::NotOneMember));
        // The last member equal to the first: the first member's trailer matches the
        // object's, so only the earlier size field gives it away.
        let one = gzip(&plain);
        let mut twice = one.clone();
        twice.extend(&one);
        assert_eq!(inflate(&twice, 1 << 30).0, Err(NotInMemory::NotOneMember));
        // Trailing bytes after the member.
        let mut trailing = one.clone();
        trailing.extend(&one[one.len() - 4..]);
        assert_eq!(inflate(&trailing, 1 << 30).0, Err(NotInMemory::NotOneMember));
    }

    #[test]
    fn the_limit_applies_to_the_declared_and_the_compressed_size() {
        let plain = text(1000);
        let compressed = gzip(&plain);
        assert_eq!(inflate(&compressed, plain.len() as u64).0, Ok(plain.len()));
        assert_eq!(inflate(&compressed, plain.len() as u64 - 1).0, Err(NotInMemory::TooLarge));
        // A bomb: small compressed, declared far over the limit.
        let bomb = gzip(&vec![b' '; 8 << 20]);
        assert_eq!(inflate(&bomb, 1 << 20).0, Err(NotInMemory::TooLarge));
        // Incompressible data: compressed larger than the limit, declared within it.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut noise = Vec::new();
        for _ in 0..4096 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            noise.push((state >> 32) as u8);
        }
        let compressed = gzip(&noise);
        assert!(compressed.len() > noise.len());
        assert_eq!(inflate(&compressed, noise.len() as u64).0, Err(NotInMemory::TooLarge));
    }
}

//! Reading one object (file, stdin or remote stream) into records: format sniffing,
//! streaming gzip with a decompression limit, line framing with a line-length limit,
//! and the per-object accounting of [`ObjectReport`].

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;
use rustc_hash::FxHashMap;

use crate::intern::{Interner, Sym};
use crate::parse::{LineError, LineKind, LineParser, Schema};
use crate::record::{Action, FlowRecord, LogStatus};
use crate::report::{MalformedLine, ObjectError, ObjectFormat, ObjectReport, PlaceholderCounts, min_opt};

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
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            from: None,
            to: None,
            max_line_bytes: 64 * 1024,
            max_decompressed_bytes: 16 * 1024 * 1024 * 1024,
            malformed_samples: 5,
            default_schema: Schema::default_v2(),
        }
    }
}

/// Receives the records of an object. Symbols in a record belong to `interner`, which
/// lives only as long as the object: resolve what you keep in [`RecordSink::end_object`].
pub trait RecordSink {
    fn record(&mut self, record: &FlowRecord, interner: &Interner);

    /// Called once after the last record of an object, with that object's interner.
    fn end_object(&mut self, _interner: &Interner) {}
}

/// A sink that ignores records (for pure accounting, as in `inspect`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl RecordSink for NullSink {
    fn record(&mut self, _record: &FlowRecord, _interner: &Interner) {}
}

impl<F: FnMut(&FlowRecord, &Interner)> RecordSink for F {
    fn record(&mut self, record: &FlowRecord, interner: &Interner) {
        self(record, interner)
    }
}

const READ_BUFFER: usize = 256 * 1024;

/// The buffer plain-text lines are framed and parsed in: four times the input buffer,
/// so that reads bypass the `BufReader` instead of copying through it. Gzip output goes
/// to a buffer of `READ_BUFFER` bytes: the larger one cost zlib-rs ~60 instructions more
/// per record (callgrind).
const TEXT_LINE_BUFFER: usize = 4 * READ_BUFFER;

/// Per-object accounting shared by the text and Parquet paths.
pub(crate) struct Accounting<'o> {
    pub report: ObjectReport,
    opts: &'o ReadOptions,
    /// Interfaces seen, by symbol index: symbols are dense, so a vector beats a hash set
    /// on the per-record path.
    interfaces: Vec<bool>,
    /// Versions seen, as a 256-bit set (folded into the report's `BTreeSet` at the end).
    versions: [u64; 4],
    placeholders: FxHashMap<Sym, PlaceholderCounts>,
}

impl<'o> Accounting<'o> {
    pub fn new(name: &str, format: ObjectFormat, opts: &'o ReadOptions) -> Accounting<'o> {
        Accounting {
            report: ObjectReport { name: name.to_string(), format, ..ObjectReport::default() },
            opts,
            interfaces: Vec::new(),
            versions: [0; 4],
            placeholders: Default::default(),
        }
    }

    pub fn note_schema(&mut self, schema: &Schema) {
        for name in schema.names() {
            if !self.report.fields.contains(name) {
                self.report.fields.insert(name.clone());
            }
        }
        for name in schema.unknown_names() {
            if !self.report.unknown_fields.contains(name) {
                self.report.unknown_fields.insert(name.to_string());
            }
        }
    }

    pub fn malformed(&mut self, line: u64, err: &LineError) {
        self.report.malformed += 1;
        if self.report.malformed_samples.len() < self.opts.malformed_samples {
            self.report.malformed_samples.push(MalformedLine {
                object: self.report.name.clone(),
                line,
                reason: err.to_string(),
            });
        }
    }

    /// Accounts a parsed record; true if it is in range and goes to the sink.
    #[inline]
    pub fn record(&mut self, record: &FlowRecord) -> bool {
        if let Some(start) = record.start {
            let before = self.opts.from.is_some_and(|from| start < from);
            let after = self.opts.to.is_some_and(|to| start >= to);
            if before || after {
                self.report.out_of_range += 1;
                return false;
            }
        }
        let r = &mut self.report;
        r.records += 1;
        match record.log_status {
            Some(LogStatus::NoData) => {
                r.nodata += 1;
                self.placeholders.entry(record.interface_id).or_default().nodata += 1;
            }
            Some(LogStatus::SkipData) => {
                r.skipdata += 1;
                self.placeholders.entry(record.interface_id).or_default().skipdata += 1;
            }
            _ => {}
        }
        match record.action {
            Some(Action::Accept) => r.accept += 1,
            Some(Action::Reject) => r.reject += 1,
            None => {}
        }
        if let Some(v) = record.version {
            self.versions[usize::from(v >> 6)] |= 1 << (v & 63);
        }
        r.first_start = min_opt(r.first_start, record.start);
        r.last_end = r.last_end.max(record.end);
        if record.interface_id.is_some() {
            let index = record.interface_id.index();
            if index >= self.interfaces.len() {
                self.interfaces.resize(index + 1, false);
            }
            self.interfaces[index] = true;
        }
        true
    }

    pub fn finish(mut self, interner: &Interner) -> ObjectReport {
        for (index, _) in self.interfaces.iter().enumerate().filter(|(_, seen)| **seen) {
            self.report.interfaces.insert(interner.display(Sym::from_index(index)).to_string());
        }
        for v in 0..=u8::MAX {
            if self.versions[usize::from(v >> 6)] & (1 << (v & 63)) != 0 {
                self.report.versions.insert(v);
            }
        }
        for (sym, counts) in self.placeholders {
            self.report.placeholders.insert(interner.display(sym).to_string(), counts);
        }
        self.report
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
/// the object with `report.error` set, keeping what was read before it.
pub fn read_stream<S: RecordSink + ?Sized>(
    name: &str,
    reader: impl Read,
    opts: &ReadOptions,
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
        let mut acc = Accounting::new(name, ObjectFormat::Gzip, opts);
        let decoder = MultiGzDecoder::new(input);
        let mut limited = Limited { inner: decoder, remaining: opts.max_decompressed_bytes, total: 0 };
        let mut parser = LineParser::with_schema(opts.default_schema.clone());
        let outcome = read_lines(&mut limited, READ_BUFFER, &mut parser, &mut acc, sink);
        acc.report.bytes_decompressed = limited.total;
        acc.report.bytes_read = limited.inner.get_ref().get_ref().count;
        if let Err(failure) = outcome {
            let offset = limited.inner.get_ref().get_ref().count;
            acc.report.error = Some(failure.into_error(name, offset, opts.max_decompressed_bytes));
        }
        sink.end_object(&parser.interner);
        acc.finish(&parser.interner)
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
        let outcome = read_lines(&mut limited, TEXT_LINE_BUFFER, &mut parser, &mut acc, sink);
        acc.report.bytes_decompressed = limited.total;
        acc.report.bytes_read = limited.inner.get_ref().count;
        if let Err(failure) = outcome {
            let offset = limited.total;
            acc.report.error = Some(failure.into_error(name, offset, opts.max_decompressed_bytes));
        }
        sink.end_object(&parser.interner);
        acc.finish(&parser.interner)
    }
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
                    ObjectError::Corrupt { object: name.to_string(), offset, line, message: err.to_string() }
                } else {
                    ObjectError::Io { object: name.to_string(), message: err.to_string() }
                }
            }
        }
    }
}

/// Bytes of NUL at the start of an object that mark it as binary, not text.
const BINARY_SNIFF: usize = 4096;

/// Frames lines (up to `max_line_bytes`), parses and accounts them. A line cut off by
/// a read error is discarded, never parsed: a truncated number would parse as a wrong one.
/// The buffer holds `line_buffer` bytes, or one line over the limit if that is more.
fn read_lines<R: Read, S: RecordSink + ?Sized>(
    reader: &mut R,
    line_buffer: usize,
    parser: &mut LineParser,
    acc: &mut Accounting<'_>,
    sink: &mut S,
) -> Result<(), Failure> {
    let max_line = acc.opts.max_line_bytes.max(1);
    let capacity = line_buffer.max(max_line + 1);
    let mut buf = vec![0u8; capacity];
    let mut filled = 0usize;
    let mut lines = LineState { line_no: 0, generation: u64::MAX, record: FlowRecord::default() };
    // Length of an over-long line being skipped, if any.
    let mut skipping: Option<usize> = None;
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
            let head = &buf[..(filled + n).min(BINARY_SNIFF)];
            if let Some(pos) = memchr::memchr(0, head) {
                return Err(Failure::Binary { offset: pos as u64 });
            }
            sniffed = true;
        }
        let eof = n == 0;
        let end = filled + n;
        let mut start = 0usize;
        loop {
            if skipping.is_none()
                && let Some(len) = lines.handle_record_line(&buf[start..end], max_line, parser, acc, sink)
            {
                start += len + 1;
                continue;
            }
            let Some(offset) = memchr::memchr(b'\n', &buf[start..end]) else { break };
            let newline = start + offset;
            let line = &buf[start..newline];
            lines.line_no += 1;
            match skipping.take() {
                Some(skipped) => {
                    acc.malformed(lines.line_no, &LineError::TooLong { len: skipped + line.len(), limit: max_line });
                }
                None if line.len() > max_line => {
                    acc.malformed(lines.line_no, &LineError::TooLong { len: line.len(), limit: max_line });
                }
                // The line with the rest of the buffer: its `\n` lets the parser read
                // whole words up to the line's end.
                None => lines.handle(&buf[start..end], line.len(), parser, acc, sink),
            }
            start = newline + 1;
        }
        let rest = end - start;
        if eof {
            if rest > 0 || skipping.is_some() {
                lines.line_no += 1;
                let line = &buf[start..end];
                match skipping.take() {
                    Some(skipped) => {
                        acc.malformed(lines.line_no, &LineError::TooLong { len: skipped + rest, limit: max_line })
                    }
                    None if rest > max_line => {
                        acc.malformed(lines.line_no, &LineError::TooLong { len: rest, limit: max_line })
                    }
                    None => lines.handle(line, line.len(), parser, acc, sink),
                }
            }
            return Ok(());
        }
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

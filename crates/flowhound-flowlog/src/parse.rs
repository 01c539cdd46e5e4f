//! The header-driven line parser.
//!
//! A line whose tokens are all field names is a header: it defines the field order of
//! the lines after it, until the next header. Before any header the default version-2
//! order applies. Tokens are separated by runs of spaces; trailing spaces and a CR are
//! ignored. `-` is a missing value.

use std::net::Ipv6Addr;

use rustc_hash::FxHashSet;

use crate::field::Field;
use crate::intern::{CACHED_BYTES, CacheEntry, CachedId, Interner, Sym, tail_word};
use crate::record::{Action, Addr, FlowDirection, FlowRecord, LogStatus, TrafficType};

/// The largest number of fields a header may name. AWS formats have fewer than 60.
pub const MAX_HEADER_FIELDS: usize = 256;

/// Why a line could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("field {field}: not a valid number: {value:?}")]
    BadNumber { field: Field, value: String },
    #[error("field {field}: not a valid IP address: {value:?}")]
    BadAddress { field: Field, value: String },
    #[error("field {field}: unexpected value {value:?}")]
    BadValue { field: Field, value: String },
    #[error("unknown field {name:?}: unexpected value {value:?}")]
    BadUnknown { name: String, value: String },
    #[error("line is {len} bytes, longer than the {limit}-byte limit")]
    TooLong { len: usize, limit: usize },
    #[error("invalid header: {reason}")]
    BadHeader { reason: String },
    #[error("no usable header before this line (the last header was invalid: {reason})")]
    NoSchema { reason: String },
    #[error("field {field}: {value} is above the physical limit of {limit}")]
    Implausible { field: Field, value: u64, limit: u64 },
    #[error("end {end} is before start {start}")]
    EndBeforeStart { start: u64, end: u64 },
}

/// Whether a parsed record's numbers are physically possible (see [`crate::limits`]):
/// a counter or time beyond them is a corrupt or forged line, and summing it would
/// falsify every aggregate it joins.
pub fn check_plausible(record: &FlowRecord) -> Result<(), LineError> {
    use crate::limits::{MAX_RECORD_BYTES, MAX_RECORD_PACKETS, MAX_UNIX_SECS};
    let checks = [
        (Field::Bytes, record.bytes, MAX_RECORD_BYTES),
        (Field::Packets, record.packets, MAX_RECORD_PACKETS),
        (Field::Start, record.start, MAX_UNIX_SECS),
        (Field::End, record.end, MAX_UNIX_SECS),
    ];
    for (field, value, limit) in checks {
        if let Some(value) = value
            && value > limit
        {
            return Err(LineError::Implausible { field, value, limit });
        }
    }
    if let (Some(start), Some(end)) = (record.start, record.end)
        && end < start
    {
        return Err(LineError::EndBeforeStart { start, end });
    }
    Ok(())
}

/// One slot of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Known(Field),
    /// A field name this version does not know; its values are checked to be tokens and skipped.
    Unknown,
}

/// The field order of a run of lines, from a header or the version-2 default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    slots: Vec<Slot>,
    names: Vec<String>,
    /// The path lines try first; the general parser takes what it does not accept.
    fast_path: FastPath,
}

impl Schema {
    /// The default version-2 format.
    pub fn default_v2() -> Schema {
        Schema::from_fields(DEFAULT_V2)
    }

    /// A schema of known fields in the given order.
    pub fn from_fields(fields: &[Field]) -> Schema {
        Schema::new(
            fields.iter().map(|&f| Slot::Known(f)).collect(),
            fields.iter().map(|f| f.name().to_string()).collect(),
        )
    }

    fn new(slots: Vec<Slot>, names: Vec<String>) -> Schema {
        let fast_path = FastPath::for_slots(&slots);
        Schema { slots, names, fast_path }
    }

    /// Parses a header line. Unknown names are kept (and ignored when parsing);
    /// duplicate names and empty headers are errors.
    pub fn from_header(line: &[u8]) -> Result<Schema, LineError> {
        let mut slots = Vec::new();
        let mut names = Vec::new();
        let mut seen = FxHashSet::default();
        for token in tokens(line) {
            if slots.len() == MAX_HEADER_FIELDS {
                return Err(LineError::BadHeader { reason: format!("more than {MAX_HEADER_FIELDS} fields") });
            }
            let name = String::from_utf8_lossy(token).into_owned();
            if !seen.insert(name.clone()) {
                return Err(LineError::BadHeader { reason: format!("field {name:?} named twice") });
            }
            slots.push(match Field::from_name(token) {
                Some(field) => Slot::Known(field),
                None => Slot::Unknown,
            });
            names.push(name);
        }
        if slots.is_empty() {
            return Err(LineError::BadHeader { reason: "no field names".into() });
        }
        Ok(Schema::new(slots, names))
    }

    /// The field names, in order, as written in the header.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Names that are not known fields.
    pub fn unknown_names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().zip(&self.names).filter(|(s, _)| **s == Slot::Unknown).map(|(_, n)| n.as_str())
    }

    /// The known fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.slots.iter().filter_map(|s| match s {
            Slot::Known(f) => Some(*f),
            Slot::Unknown => None,
        })
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// What a line turned out to be.
// Records are returned by value on the hot path; boxing them would cost an allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Blank,
    Header,
    Record(FlowRecord),
}

/// What a line turned out to be, when the record is written into a caller's buffer
/// ([`LineParser::parse_line_into`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Header,
    Record,
}

/// Number of catalogue fields of versions up to `version`, in [`Field::ALL`] order.
fn catalogue_len(version: u8) -> usize {
    Field::ALL.iter().filter(|f| f.version() <= version).count()
}

/// Versions for which a headerless line with the whole catalogue is recognised.
const INFERRED_VERSIONS: std::ops::RangeInclusive<u8> = 3..=10;

/// A stateful parser for the lines of one object: it remembers the current schema and
/// interns identifiers into its own [`Interner`].
#[derive(Debug)]
pub struct LineParser {
    schema: Result<Schema, String>,
    /// Bumped whenever the schema changes, so callers can notice headers cheaply.
    schema_generation: u64,
    /// True once a header line has been seen: from then on the header rules, and
    /// headerless "all fields" lines are no longer guessed.
    header_seen: bool,
    /// Whether the schema in force before any header is the version-2 default, the only
    /// one whose lines may turn out to be headerless "all fields" lines of a later version.
    default_is_v2: bool,
    /// Catalogue-order schemas of the headerless versions met so far, by version.
    inferred: Vec<(u8, Schema)>,
    /// The schema most recently applied to a line, when it was an inferred one.
    last_inferred: Option<u8>,
    /// The last identifier (as its padded words) and symbol per field: identifiers such
    /// as the account or VPC repeat on consecutive lines, and comparing a few words is
    /// cheaper than hashing them.
    recent: [CacheEntry; Field::ALL.len()],
    pub interner: Interner,
}

impl Default for LineParser {
    fn default() -> Self {
        LineParser::new()
    }
}

impl LineParser {
    pub fn new() -> LineParser {
        LineParser::with_schema(Schema::default_v2())
    }

    /// A parser whose lines before the first header follow `schema` (e.g. a custom
    /// format known from `DescribeFlowLogs`).
    pub fn with_schema(schema: Schema) -> LineParser {
        let default_is_v2 = schema == Schema::default_v2();
        LineParser {
            schema: Ok(schema),
            schema_generation: 0,
            header_seen: false,
            default_is_v2,
            inferred: Vec::new(),
            last_inferred: None,
            recent: [CacheEntry::default(); Field::ALL.len()],
            interner: Interner::new(),
        }
    }

    /// The schema in force, or the reason the last header was rejected.
    pub fn schema(&self) -> Result<&Schema, &str> {
        self.schema.as_ref().map_err(|e| e.as_str())
    }

    /// The schema of the last line parsed: the one in force, or the catalogue order of
    /// a headerless "all fields" line of a later version.
    pub fn last_schema(&self) -> Result<&Schema, &str> {
        if let Some(version) = self.last_inferred
            && let Some((_, schema)) = self.inferred.iter().find(|(v, _)| *v == version)
        {
            return Ok(schema);
        }
        self.schema()
    }

    /// Changes when a header is read, and when a headerless line of a version not met
    /// before is recognised: then [`LineParser::last_schema`] holds a new field list.
    pub fn schema_generation(&self) -> u64 {
        self.schema_generation
    }

    /// Parses one line (without its `\n`).
    pub fn parse_line(&mut self, line: &[u8]) -> Result<Line, LineError> {
        let mut record = FlowRecord::default();
        self.parse_line_into(line, &mut record).map(|kind| match kind {
            LineKind::Blank => Line::Blank,
            LineKind::Header => Line::Header,
            LineKind::Record => Line::Record(record),
        })
    }

    /// Parses one line (without its `\n`) into `record`, which is fully overwritten
    /// when the line is a record and left in an unspecified state otherwise.
    pub fn parse_line_into(&mut self, line: &[u8], record: &mut FlowRecord) -> Result<LineKind, LineError> {
        *record = FlowRecord::default();
        self.parse_line_reusing(line, record)
    }

    /// Like [`LineParser::parse_line_into`], but writes only the fields of the schema
    /// of the line: the caller must reset `record` when `schema_generation` changes on
    /// a line that is not a record (a header), so fields outside the new schema keep
    /// their `None`. Saves clearing 300 bytes per line.
    pub(crate) fn parse_line_reusing(&mut self, line: &[u8], record: &mut FlowRecord) -> Result<LineKind, LineError> {
        self.parse_line_in(line, line.len(), record)
    }

    /// The record line at the start of `text`, read in the same pass that finds its
    /// end, for the lines the fast paths take that end in a bare `\n` (no CR, no
    /// trailing space, not the last line of the buffer): the line's length without the
    /// `\n`, the record in `record` (written as by [`LineParser::parse_line_reusing`]).
    /// `None` says nothing about the line, only that the caller must frame it and call
    /// [`LineParser::parse_line_in`]; `record` may have been written to.
    #[inline]
    pub(crate) fn parse_record_line(&mut self, text: &[u8], record: &mut FlowRecord) -> Option<usize> {
        // A line starting with a lowercase letter may be a header: the framed path decides.
        if self.last_inferred.is_some() || text.first().is_none_or(u8::is_ascii_lowercase) {
            return None;
        }
        let Ok(schema) = &self.schema else { return None };
        let mut fields = Fields { interner: &mut self.interner, recent: &mut self.recent };
        // An implausible record goes the framed way, which reports it.
        schema.parse_fast(text, UNTIL_NEWLINE, &mut fields, record).filter(|_| check_plausible(record).is_ok())
    }

    /// Like [`LineParser::parse_line_reusing`] for the line `text[..len]`, where the
    /// bytes of `text` past `len`, if any, start with its line terminator (the read
    /// buffer the line sits in): the fast path then reads eight bytes at a time up to
    /// the very end of the line without copying its tail.
    #[inline]
    pub(crate) fn parse_line_in(
        &mut self,
        text: &[u8],
        len: usize,
        record: &mut FlowRecord,
    ) -> Result<LineKind, LineError> {
        let line = trim_end(&text[..len]);
        if self.last_inferred.is_none()
            && let Ok(schema) = &self.schema
            // A line of names could fit a schema of identifiers: headers go the general way.
            && !(line.first().is_some_and(u8::is_ascii_lowercase) && looks_like_header(line))
        {
            let mut fields = Fields { interner: &mut self.interner, recent: &mut self.recent };
            // Anything unusual (a tab, a run of spaces, an IPv6 address, a bad value)
            // leaves the line to the general path below, which gives the same result
            // for every line the fast paths accept and the exact error otherwise.
            if schema.parse_fast(text, line.len(), &mut fields, record).is_some() && check_plausible(record).is_ok() {
                return Ok(LineKind::Record);
            }
        }
        let Some(&first) = line.iter().find(|b| !is_separator(**b)) else {
            return Ok(LineKind::Blank);
        };
        if first.is_ascii_lowercase() && looks_like_header(line) {
            self.schema_generation += 1;
            self.header_seen = true;
            self.last_inferred = None;
            return match Schema::from_header(line) {
                Ok(schema) => {
                    self.schema = Ok(schema);
                    Ok(LineKind::Header)
                }
                Err(err) => {
                    self.schema = Err(err.to_string());
                    Err(err)
                }
            };
        }
        let schema = match &self.schema {
            Ok(schema) => schema,
            Err(reason) => return Err(LineError::NoSchema { reason: reason.clone() }),
        };
        if self.last_inferred.take().is_some() {
            // Back from a headerless later-version line: fields outside this schema
            // hold that line's values.
            *record = FlowRecord::default();
            self.schema_generation += 1;
        }
        let mut fields = Fields { interner: &mut self.interner, recent: &mut self.recent };
        let parsed = match parse_record(&schema.slots, &schema.names, &mut fields, line, record) {
            // A value error on a line of the wrong length is reported as the wrong length:
            // that is the real problem, and what headerless inference below looks for.
            Err(err) if !matches!(err, LineError::FieldCount { .. }) => {
                let found = tokens(line).count();
                if found == schema.slots.len() {
                    Err(err)
                } else {
                    Err(LineError::FieldCount { expected: schema.slots.len(), found })
                }
            }
            other => other,
        };
        match parsed {
            Ok(()) => check_plausible(record).map(|()| LineKind::Record),
            Err(LineError::FieldCount { expected, found }) if !self.header_seen && self.default_is_v2 => {
                self.parse_inferred(line, found, record).unwrap_or(Err(LineError::FieldCount { expected, found }))
            }
            Err(err) => Err(err),
        }
    }

    /// A headerless line of `found` fields: the whole catalogue of the version it
    /// names, as Elastic and AWS's console write "all fields" custom formats.
    fn parse_inferred(
        &mut self,
        line: &[u8],
        found: usize,
        record: &mut FlowRecord,
    ) -> Option<Result<LineKind, LineError>> {
        let version_token = tokens(line).next()?;
        let version = u8::try_from(parse_u64(version_token)?).ok()?;
        if !INFERRED_VERSIONS.contains(&version) || catalogue_len(version) != found {
            return None;
        }
        if !self.inferred.iter().any(|(v, _)| *v == version) {
            let fields: Vec<Field> = Field::ALL.iter().copied().filter(|f| f.version() <= version).collect();
            self.inferred.push((version, Schema::from_fields(&fields)));
        }
        let schema = &self.inferred.iter().find(|(v, _)| *v == version)?.1;
        // The record may hold values of other fields from earlier lines: start afresh.
        *record = FlowRecord::default();
        let mut fields = Fields { interner: &mut self.interner, recent: &mut self.recent };
        let parsed = parse_record(&schema.slots, &schema.names, &mut fields, line, record);
        if self.last_inferred != Some(version) {
            self.schema_generation += 1;
            self.last_inferred = Some(version);
        }
        Some(parsed.and_then(|()| check_plausible(record)).map(|()| LineKind::Record))
    }
}

#[inline]
fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if *last == b'\r' || is_separator(*last) {
            line = rest;
        } else {
            break;
        }
    }
    line
}

/// Splits on runs of spaces or tabs.
fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_separator(b)).filter(|t| !t.is_empty())
}

/// A header names fields: every token is a lowercase name (`[a-z][a-z0-9_-]*`) and at
/// least one is a field we know. Data lines always hold a number, an address, `-` or
/// an upper-case keyword, none of which fits.
fn looks_like_header(line: &[u8]) -> bool {
    let mut any_known = false;
    for token in tokens(line) {
        let name_like = token[0].is_ascii_lowercase()
            && token.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_like {
            return false;
        }
        any_known |= Field::from_name(token).is_some();
    }
    any_known
}

fn truncate_for_message(value: &[u8]) -> String {
    const MAX: usize = 48;
    let shown = &value[..value.len().min(MAX)];
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if value.len() > MAX {
        s.push('…');
    }
    s
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `line` from `pos` as a little-endian word; bytes past the end are 0.
#[inline(always)]
fn load8(line: &[u8], pos: usize) -> u64 {
    match line.get(pos..pos + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        Some(bytes) => u64::from_le_bytes(bytes),
        None => {
            let mut bytes = [0u8; 8];
            let tail = line.get(pos..).unwrap_or_default();
            bytes[..tail.len().min(8)].copy_from_slice(&tail[..tail.len().min(8)]);
            u64::from_le_bytes(bytes)
        }
    }
}

/// The position of the first byte at or after `pos` that is not printable ASCII
/// (`0x21..=0x7e`), or `line.len()`. Eight bytes per step: tokens average 8-12 bytes,
/// so a byte loop would cost a branch per byte.
#[inline(always)]
fn token_end(line: &[u8], mut pos: usize) -> usize {
    while let Some(bytes) = line.get(pos..pos + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        let flagged = unprintable(u64::from_le_bytes(bytes));
        if flagged != 0 {
            return pos + (flagged.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while pos < line.len() && (0x21..=0x7e).contains(&line[pos]) {
        pos += 1;
    }
    pos
}

/// The high bit of every byte of `word` that is not printable ASCII (`0x21..=0x7e`).
/// Exact for the lowest flagged byte, which is all callers use: borrows and carries
/// only travel upwards from a byte that is itself flagged.
#[inline(always)]
fn unprintable(word: u64) -> u64 {
    let below = word.wrapping_sub(ONES * 0x21) & !word & HIGH_BITS;
    let above = (word.wrapping_add(ONES) | word) & HIGH_BITS;
    below | above
}

/// The value of `n` (1..=8) ASCII digits starting at byte 0 of `word`, or `None` if
/// one of them is not a digit (SWAR, after fast_float's eight-digit parser).
#[inline(always)]
fn digits8(word: u64, n: usize) -> Option<u64> {
    let keep = if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
    // Bytes past the token become '0' so the digit test ignores them.
    let w = (word & keep) | ((ONES * u64::from(b'0')) & !keep);
    if (w & NIBBLES) | ((w.wrapping_add(ONES * 6) & NIBBLES) >> 4) != ONES * 0x33 {
        return None;
    }
    Some(convert8(w, n))
}

const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;

/// The value of the `n` (1..=8) low bytes of `word`, known to be ASCII digits.
#[inline(always)]
fn convert8(word: u64, n: usize) -> u64 {
    // Shift the digits to the most significant end; the zero bytes below are leading zeros.
    let mut v = word << (8 * (8 - n as u32));
    v = ((v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561)) >> 8;
    v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    ((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001)) >> 32
}

/// The high bit of every byte of `word` that is not an ASCII digit. Exact for the lowest
/// flagged byte, which is all callers use: the `+ 6` can only carry out of a byte that
/// is itself no digit (0xfa and above).
#[inline(always)]
fn non_digits(word: u64) -> u64 {
    let zero = ONES * 0x30;
    let x = ((word & NIBBLES) ^ zero) | ((word.wrapping_add(ONES * 6) & NIBBLES) ^ zero);
    // A byte of x is zero exactly when the byte of `word` is a digit.
    ((x & !HIGH_BITS).wrapping_add(!HIGH_BITS) | x) & HIGH_BITS
}

const POW10: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// The run of 1 to 15 ASCII digits at `text[pos..]`: its value, its end and the byte
/// after it (0 past the end of `text`), taken from the word already loaded. Longer runs
/// and runs of none give `None` (longer numbers are left to [`parse_u64`]).
#[inline(always)]
fn digit_run(text: &[u8], pos: usize) -> Option<(u64, usize, u8)> {
    let word = load8(text, pos);
    let flags = non_digits(word);
    if flags != 0 {
        let n = (flags.trailing_zeros() / 8) as usize;
        if n == 0 {
            return None;
        }
        return Some((convert8(word, n), pos + n, (word >> (8 * n)) as u8));
    }
    let low_word = load8(text, pos + 8);
    let low_flags = non_digits(low_word);
    if low_flags == 0 {
        return None;
    }
    let high = convert8(word, 8);
    let n = (low_flags.trailing_zeros() / 8) as usize;
    let after = (low_word >> (8 * n)) as u8;
    if n == 0 {
        return Some((high, pos + 8, after));
    }
    Some((high * POW10[n] + convert8(low_word, n), pos + 8 + n, after))
}

/// The number in `line[start..end]`: ASCII digits only, no sign, no overflow.
#[inline(always)]
fn digits_at(line: &[u8], start: usize, end: usize) -> Option<u64> {
    let n = end - start;
    match n {
        1..=8 => digits8(load8(line, start), n),
        9..=16 => {
            let high = digits8(load8(line, start), n - 8)?;
            let low = digits8(load8(line, end - 8), 8)?;
            Some(high * 100_000_000 + low)
        }
        _ => parse_u64(&line[start..end]),
    }
}

#[inline]
fn parse_u64(token: &[u8]) -> Option<u64> {
    if token.is_empty() || token.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in token {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

#[inline]
fn is_missing(token: &[u8]) -> bool {
    token == b"-"
}

/// The dotted-quad IPv4 address that is all of `token` (see [`ipv4_run`] for the rules).
#[inline]
fn parse_ipv4(token: &[u8]) -> Option<u32> {
    ipv4_run(token, 0).filter(|&(_, end)| end == token.len()).map(|(bits, _)| bits)
}

/// The interner and its per-field cache, borrowed together while a line is parsed.
struct Fields<'p> {
    interner: &'p mut Interner,
    recent: &'p mut [CacheEntry; Field::ALL.len()],
}

impl Fields<'_> {
    /// The symbol of the token `line[start..end]`, `clean` if all printable.
    #[inline(always)]
    fn symbol(&mut self, field: Field, line: &[u8], start: usize, end: usize, clean: bool) -> Result<Sym, LineError> {
        let token = &line[start..end];
        if !clean {
            if is_missing(token) {
                return Ok(Sym::NONE);
            }
            return Err(LineError::BadValue { field, value: truncate_for_message(token) });
        }
        let len = token.len();
        if len > CACHED_BYTES {
            return Ok(self.interner.intern(token));
        }
        // The identifier's words straight from the line: the bytes after the token are
        // masked off, so no copy of its tail and no compare through the interner's strings.
        let mut id = CachedId { words: [0; CACHED_BYTES / 8], len };
        for (index, word) in id.words.iter_mut().enumerate() {
            let offset = 8 * index;
            if offset + 8 > len {
                if offset < len {
                    *word = load8(line, start + offset) & ((1u64 << (8 * (len - offset))) - 1);
                }
                break;
            }
            *word = load8(line, start + offset);
        }
        if len == 1 && id.words[0] == u64::from(b'-') {
            return Ok(Sym::NONE);
        }
        Ok(self.cached_symbol(field, &id, token))
    }

    /// The planned path's identifier: the printable token at the line's position, its
    /// words loaded while its end is found. `None` leaves the line to the general path.
    #[inline(always)]
    fn symbol_at(&mut self, field: Field, line: &mut FastLine<'_>, last: bool) -> Option<Sym> {
        let start = line.pos;
        let first = load8(line.text, start);
        // `-` alone, the commonest value of the service and sublocation fields: no lookup.
        let second = (first >> 8) as u8;
        if first as u8 == b'-' && !(0x21..=0x7e).contains(&second) {
            line.next_token(start + 1, second, last)?;
            return Some(Sym::NONE);
        }
        let mut id = CachedId { words: [0; CACHED_BYTES / 8], len: 0 };
        let mut word = first;
        for index in 0..CACHED_BYTES / 8 {
            let flagged = unprintable(word);
            if flagged != 0 {
                let n = (flagged.trailing_zeros() / 8) as usize;
                id.words[index] = word & ((1u64 << (8 * n)) - 1);
                id.len = 8 * index + n;
                if id.len == 0 {
                    return None;
                }
                // The byte after the token is in the word already.
                line.next_token(start + id.len, (word >> (8 * n)) as u8, last)?;
                return Some(self.cached_symbol(field, &id, &line.text[start..start + id.len]));
            }
            id.words[index] = word;
            word = load8(line.text, start + 8 * (index + 1));
        }
        // Longer than the cache takes (ECS ARNs, say).
        let end = token_end(line.text, start + CACHED_BYTES);
        line.next_token(end, line.byte(end), last)?;
        Some(self.interner.intern(&line.text[start..end]))
    }

    /// The symbol of `token`, whose padded words are `id`: the field's previous
    /// identifier when it repeats (one compare of a few words), else the interner's.
    #[inline(always)]
    fn cached_symbol(&mut self, field: Field, id: &CachedId, token: &[u8]) -> Sym {
        let recent = &mut self.recent[field as usize];
        // An empty entry has length 0, which no token has: no separate test of its symbol.
        if recent.id == *id {
            return recent.sym;
        }
        let sym = self.interner.intern_cached(id, token);
        *recent = CacheEntry { id: *id, sym };
        sym
    }
}

/// Parses the tokens of `line` into the fields named by `slots`. Tokenizing and value
/// parsing share one pass: the token end is found eight bytes at a time, numbers are
/// converted eight digits at a time.
#[inline]
fn parse_record(
    slots: &[Slot],
    names: &[String],
    fields: &mut Fields<'_>,
    line: &[u8],
    record: &mut FlowRecord,
) -> Result<(), LineError> {
    let len = line.len();
    let mut pos = 0usize;
    for (index, slot) in slots.iter().enumerate() {
        while pos < len && is_separator(line[pos]) {
            pos += 1;
        }
        if pos >= len {
            return Err(LineError::FieldCount { expected: slots.len(), found: index });
        }
        let start = pos;
        let mut end = token_end(line, pos);
        let clean = end == len || is_separator(line[end]);
        if !clean {
            while end < len && !is_separator(line[end]) {
                end += 1;
            }
        }
        pos = end;
        match *slot {
            Slot::Known(field) => {
                set_value(record, field, &mut SplitToken { fields: &mut *fields, line, start, end, clean })?
            }
            Slot::Unknown if clean => {}
            Slot::Unknown => {
                return Err(LineError::BadUnknown {
                    name: names.get(index).cloned().unwrap_or_default(),
                    value: truncate_for_message(&line[start..end]),
                });
            }
        }
    }
    let extra = tokens(&line[pos..]).count();
    if extra > 0 {
        return Err(LineError::FieldCount { expected: slots.len(), found: slots.len() + extra });
    }
    Ok(())
}

#[inline(always)]
fn number<T: TryFrom<u64>>(field: Field, line: &[u8], start: usize, end: usize) -> Result<Option<T>, LineError> {
    if end - start == 1 && line[start] == b'-' {
        return Ok(None);
    }
    digits_at(line, start, end)
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| LineError::BadNumber { field, value: truncate_for_message(&line[start..end]) })
}

#[inline(always)]
fn address(field: Field, token: &[u8]) -> Result<Option<Addr>, LineError> {
    if let Some(bits) = parse_ipv4(token) {
        return Ok(Some(Addr::from_ipv4_bits(bits)));
    }
    if is_missing(token) {
        return Ok(None);
    }
    std::str::from_utf8(token)
        .ok()
        .filter(|s| s.contains(':'))
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
        .map(|v6| Some(Addr(u128::from(v6))))
        .ok_or_else(|| LineError::BadAddress { field, value: truncate_for_message(token) })
}

#[inline(always)]
fn keyword<T: Copy>(field: Field, token: &[u8], choices: &[(&[u8], T)]) -> Result<Option<T>, LineError> {
    for (name, value) in choices {
        if token == *name {
            return Ok(Some(*value));
        }
    }
    if is_missing(token) {
        return Ok(None);
    }
    Err(LineError::BadValue { field, value: truncate_for_message(token) })
}

/// The dotted-quad IPv4 address at `text[pos..]`: its bits and end; the caller checks
/// what follows it. Four decimal octets of at most three digits each, each at most 255;
/// leading zeros ("010") are ambiguous (octal in some parsers), so a leading 0 must
/// stand alone.
#[inline(always)]
fn ipv4_run(text: &[u8], mut pos: usize) -> Option<(u32, usize)> {
    let digit = |pos: usize| text.get(pos).map_or(10, |b| b.wrapping_sub(b'0'));
    let mut bits = 0u32;
    for octet in 0..4 {
        if octet > 0 {
            if text.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let first = digit(pos);
        if first > 9 {
            return None;
        }
        let mut value = u32::from(first);
        let second = digit(pos + 1);
        if second <= 9 {
            // A leading 0 must stand alone.
            if value == 0 {
                return None;
            }
            value = value * 10 + u32::from(second);
            let third = digit(pos + 2);
            if third <= 9 {
                value = value * 10 + u32::from(third);
                pos += 3;
            } else {
                pos += 2;
            }
        } else {
            pos += 1;
        }
        if value > 255 {
            return None;
        }
        bits = bits << 8 | value;
    }
    Some((bits, pos))
}

/// The `len` of a [`FastLine`] whose end is not known yet: the line ends where its last
/// token is followed by a bare `\n`.
const UNTIL_NEWLINE: usize = usize::MAX;

/// Reads the fields of one line in the order of its schema, token by token.
struct FastLine<'t> {
    /// The line and, past `len`, its terminator (see [`LineParser::parse_line_in`]).
    text: &'t [u8],
    /// The length of the line without trailing separators or CR, or [`UNTIL_NEWLINE`].
    len: usize,
    pos: usize,
}

impl FastLine<'_> {
    /// Steps past a token ending at `end` followed by the byte `after`: the last token
    /// must end the line, the others must be followed by exactly one space.
    ///
    /// A token followed by a space need not be checked to end before `len`: past `len`
    /// there are only separators, a CR and the `\n`, so a token there is empty and fails,
    /// and a last token ending at `len` puts every token before it inside the line.
    #[inline(always)]
    fn next_token(&mut self, end: usize, after: u8, last: bool) -> Option<()> {
        if last {
            let ends_line = if self.len == UNTIL_NEWLINE { after == b'\n' } else { end == self.len };
            self.pos = end;
            return ends_line.then_some(());
        }
        if after == b' ' {
            self.pos = end + 1;
            return Some(());
        }
        None
    }

    /// The byte at `pos` (0 past the end of the text).
    #[inline(always)]
    fn byte(&self, pos: usize) -> u8 {
        self.text.get(pos).copied().unwrap_or(0)
    }

    /// The printable token at the position, stepped past.
    #[inline(always)]
    fn token(&mut self, last: bool) -> Option<&[u8]> {
        let start = self.pos;
        let end = token_end(self.text, start);
        if end == start {
            return None;
        }
        self.next_token(end, self.byte(end), last)?;
        Some(&self.text[start..end])
    }

    #[inline(always)]
    fn number<T: TryFrom<u64>>(&mut self, last: bool) -> Option<Option<T>> {
        let Some((value, end, after)) = digit_run(self.text, self.pos) else {
            // Not a number: only `-` is still acceptable here.
            if self.byte(self.pos) != b'-' {
                return None;
            }
            self.next_token(self.pos + 1, self.byte(self.pos + 1), last)?;
            return Some(None);
        };
        // The byte after the digits comes with them: no second load for the separator.
        self.next_token(end, after, last)?;
        T::try_from(value).ok().map(Some)
    }

    #[inline(always)]
    fn address(&mut self, field: Field, last: bool) -> Option<Option<Addr>> {
        if let Some((bits, end)) = ipv4_run(self.text, self.pos)
            && self.next_token(end, self.byte(end), last).is_some()
        {
            return Some(Some(Addr::from_ipv4_bits(bits)));
        }
        address(field, self.token(last)?).ok()
    }

    /// A keyword of at most eight bytes (all of them are), compared as one masked word
    /// with no search for the token's end: a match must be followed by its separator.
    #[inline(always)]
    fn keyword<T: Copy>(&mut self, choices: &[(&[u8], T)], last: bool) -> Option<Option<T>> {
        let start = self.pos;
        let word = load8(self.text, start);
        for (name, value) in choices {
            let n = name.len();
            let (mask, after) = if n >= 8 {
                (u64::MAX, self.byte(start + 8))
            } else {
                ((1u64 << (8 * n)) - 1, (word >> (8 * n)) as u8)
            };
            if word & mask == tail_word(name) {
                self.next_token(start + n, after, last)?;
                return Some(Some(*value));
            }
        }
        if word as u8 != b'-' {
            return None;
        }
        self.next_token(start + 1, (word >> 8) as u8, last)?;
        Some(None)
    }
}

/// Reads the value of one field for [`set_value`]: the general path from a token it
/// has split off, the planned path from the line at its position.
trait ValueSource {
    type Error;
    fn number<T: TryFrom<u64>>(&mut self, field: Field) -> Result<Option<T>, Self::Error>;
    fn address(&mut self, field: Field) -> Result<Option<Addr>, Self::Error>;
    fn symbol(&mut self, field: Field) -> Result<Sym, Self::Error>;
    fn keyword<T: Copy>(&mut self, field: Field, choices: &[(&[u8], T)]) -> Result<Option<T>, Self::Error>;
}

/// The general path's value: the token `line[start..end]`, `clean` if all printable.
struct SplitToken<'a, 'p> {
    fields: &'a mut Fields<'p>,
    line: &'a [u8],
    start: usize,
    end: usize,
    clean: bool,
}

impl ValueSource for SplitToken<'_, '_> {
    type Error = LineError;

    #[inline(always)]
    fn number<T: TryFrom<u64>>(&mut self, field: Field) -> Result<Option<T>, LineError> {
        number(field, self.line, self.start, self.end)
    }

    #[inline(always)]
    fn address(&mut self, field: Field) -> Result<Option<Addr>, LineError> {
        address(field, &self.line[self.start..self.end])
    }

    #[inline(always)]
    fn symbol(&mut self, field: Field) -> Result<Sym, LineError> {
        self.fields.symbol(field, self.line, self.start, self.end, self.clean)
    }

    #[inline(always)]
    fn keyword<T: Copy>(&mut self, field: Field, choices: &[(&[u8], T)]) -> Result<Option<T>, LineError> {
        keyword(field, &self.line[self.start..self.end], choices)
    }
}

/// The planned path's value: the next token of the line, the line's last if `LAST`.
/// Any surprise is an error without a message: the general path then names it.
struct NextToken<'a, 't, 'p, const LAST: bool> {
    line: &'a mut FastLine<'t>,
    fields: &'a mut Fields<'p>,
}

impl<const LAST: bool> ValueSource for NextToken<'_, '_, '_, LAST> {
    type Error = ();

    #[inline(always)]
    fn number<T: TryFrom<u64>>(&mut self, _field: Field) -> Result<Option<T>, ()> {
        self.line.number(LAST).ok_or(())
    }

    #[inline(always)]
    fn address(&mut self, field: Field) -> Result<Option<Addr>, ()> {
        self.line.address(field, LAST).ok_or(())
    }

    #[inline(always)]
    fn symbol(&mut self, field: Field) -> Result<Sym, ()> {
        self.fields.symbol_at(field, self.line, LAST).ok_or(())
    }

    #[inline(always)]
    fn keyword<T: Copy>(&mut self, _field: Field, choices: &[(&[u8], T)]) -> Result<Option<T>, ()> {
        self.line.keyword(choices, LAST).ok_or(())
    }
}

/// The planned path: reads the fields of `slots` in order, for lines of single-space
/// separated, well-formed values, with one jump per field to code for that field.
/// `None` means "not such a line": the general parser then decides (and names the
/// error, if any); every line accepted here gives the record the general parser would.
#[inline]
fn parse_planned(
    slots: &[Slot],
    text: &[u8],
    len: usize,
    fields: &mut Fields<'_>,
    record: &mut FlowRecord,
) -> Option<usize> {
    let (&last, init) = slots.split_last()?;
    let mut line = FastLine { text, len, pos: 0 };
    for &slot in init {
        planned_slot::<false>(&mut line, fields, record, slot)?;
    }
    planned_slot::<true>(&mut line, fields, record, last)?;
    Some(line.pos)
}

/// The field orders read by straight-line code: one function per order in which every
/// call names its field, so the per-token jump of [`parse_planned`] folds away (the
/// version-2 default order through the planned loop cost ~20 % more per line,
/// callgrind). The orders are the ones AWS writes or documents and users configure:
/// the default, the "all fields of version N" formats (the catalogue in order), and
/// the simulator's v5 format. A schema is matched against them once, when its header
/// is read; every other order keeps its plan.
macro_rules! straight_line_orders {
    ($( $(#[$doc:meta])* $variant:ident: $order:ident, $parse:ident = [$($field:ident)+ ; $last:ident]; )+) => {
        $(
            $(#[$doc])*
            pub const $order: &[Field] = &[$(Field::$field,)+ Field::$last];

            #[inline]
            fn $parse(text: &[u8], len: usize, fields: &mut Fields<'_>, record: &mut FlowRecord) -> Option<usize> {
                let mut line = FastLine { text, len, pos: 0 };
                $( planned_slot::<false>(&mut line, fields, record, Slot::Known(Field::$field))?; )+
                planned_slot::<true>(&mut line, fields, record, Slot::Known(Field::$last))?;
                Some(line.pos)
            }
        )+

        /// Every straight-line order, for the tests that compare the paths.
        #[cfg(test)]
        const STRAIGHT_LINE_ORDERS: &[(&[Field], FastPath)] = &[$( ($order, FastPath::$variant), )+];

        /// How the lines of a schema are read before the general parser is tried.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum FastPath {
            $( $variant, )+
            /// Any other order: [`parse_planned`], one jump per field.
            Planned,
            /// The general parser alone (for the tests that compare the paths).
            #[cfg(test)]
            None,
        }

        impl FastPath {
            /// The straight-line order `slots` are in, if any.
            fn for_slots(slots: &[Slot]) -> FastPath {
                $(
                    if slots.len() == $order.len() && slots.iter().zip($order).all(|(slot, field)| *slot == Slot::Known(*field)) {
                        return FastPath::$variant;
                    }
                )+
                FastPath::Planned
            }
        }

        impl Schema {
            /// Reads a line of this schema the fast way: one `match` on the path chosen
            /// when the schema was made (see [`parse_planned`] for `text`, `len` and the result).
            #[inline(always)]
            fn parse_fast(&self, text: &[u8], len: usize, fields: &mut Fields<'_>, record: &mut FlowRecord) -> Option<usize> {
                match self.fast_path {
                    $( FastPath::$variant => $parse(text, len, fields, record), )+
                    FastPath::Planned => parse_planned(&self.slots, text, len, fields, record),
                    #[cfg(test)]
                    FastPath::None => None,
                }
            }
        }
    };
}

straight_line_orders! {
    /// The default (version 2) format, in its fixed order.
    DefaultV2: DEFAULT_V2, parse_default_v2 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        ; LogStatus
    ];
    /// Every field of version 3, in AWS's catalogue order.
    AllV3: ALL_V3, parse_all_v3 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        LogStatus VpcId SubnetId InstanceId TcpFlags Type PktSrcAddr
        ; PktDstAddr
    ];
    /// Every field of version 4, in AWS's catalogue order.
    AllV4: ALL_V4, parse_all_v4 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        LogStatus VpcId SubnetId InstanceId TcpFlags Type PktSrcAddr PktDstAddr Region AzId SublocationType
        ; SublocationId
    ];
    /// Every field of version 5, in AWS's catalogue order.
    AllV5: ALL_V5, parse_all_v5 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        LogStatus VpcId SubnetId InstanceId TcpFlags Type PktSrcAddr PktDstAddr Region AzId SublocationType
        SublocationId PktSrcAwsService PktDstAwsService FlowDirection
        ; TrafficPath
    ];
    /// The v5 custom format `flowhound simulate` writes: every v2–v5 field it fills,
    /// deliberately not in catalogue order.
    SimulatorV5: SIMULATOR_V5, parse_simulator_v5 = [
        Version AccountId Region AzId VpcId SubnetId InstanceId InterfaceId FlowDirection TrafficPath SrcAddr
        DstAddr PktSrcAddr PktDstAddr SrcPort DstPort Protocol TcpFlags Type Packets Bytes Start End Action
        LogStatus PktSrcAwsService
        ; PktDstAwsService
    ];
}

#[inline(always)]
fn planned_slot<const LAST: bool>(
    line: &mut FastLine<'_>,
    fields: &mut Fields<'_>,
    record: &mut FlowRecord,
    slot: Slot,
) -> Option<()> {
    match slot {
        Slot::Known(field) => set_value(record, field, &mut NextToken::<LAST> { line, fields }).ok(),
        Slot::Unknown => line.token(LAST).map(|_| ()),
    }
}

/// Sets one field from its token, for the Parquet reader (which has no line around it).
pub(crate) fn set_field(
    record: &mut FlowRecord,
    interner: &mut Interner,
    field: Field,
    token: &[u8],
) -> Result<(), LineError> {
    let mut recent = [CacheEntry::default(); Field::ALL.len()];
    let mut fields = Fields { interner, recent: &mut recent };
    let clean = token_end(token, 0) == token.len();
    if token.is_empty() {
        return Err(LineError::BadValue { field, value: String::new() });
    }
    let mut value = SplitToken { fields: &mut fields, line: token, start: 0, end: token.len(), clean };
    set_value(record, field, &mut value)
}

/// The one place that knows which record field each [`Field`] goes to and its kind.
#[inline(always)]
fn set_value<V: ValueSource>(record: &mut FlowRecord, field: Field, value: &mut V) -> Result<(), V::Error> {
    match field {
        Field::Version => record.version = value.number(field)?,
        Field::AccountId => record.account_id = value.symbol(field)?,
        Field::InterfaceId => record.interface_id = value.symbol(field)?,
        Field::SrcAddr => record.srcaddr = value.address(field)?,
        Field::DstAddr => record.dstaddr = value.address(field)?,
        Field::SrcPort => record.srcport = value.number(field)?,
        Field::DstPort => record.dstport = value.number(field)?,
        Field::Protocol => record.protocol = value.number(field)?,
        Field::Packets => record.packets = value.number(field)?,
        Field::Bytes => record.bytes = value.number(field)?,
        Field::Start => record.start = value.number(field)?,
        Field::End => record.end = value.number(field)?,
        Field::Action => {
            record.action = value.keyword(field, &[(b"ACCEPT", Action::Accept), (b"REJECT", Action::Reject)])?
        }
        Field::LogStatus => {
            record.log_status = value.keyword(
                field,
                &[(b"OK", LogStatus::Ok), (b"NODATA", LogStatus::NoData), (b"SKIPDATA", LogStatus::SkipData)],
            )?
        }
        Field::VpcId => record.vpc_id = value.symbol(field)?,
        Field::SubnetId => record.subnet_id = value.symbol(field)?,
        Field::InstanceId => record.instance_id = value.symbol(field)?,
        Field::TcpFlags => record.tcp_flags = value.number(field)?,
        Field::Type => {
            record.traffic_type = value.keyword(
                field,
                &[(b"IPv4", TrafficType::Ipv4), (b"IPv6", TrafficType::Ipv6), (b"EFA", TrafficType::Efa)],
            )?
        }
        Field::PktSrcAddr => record.pkt_srcaddr = value.address(field)?,
        Field::PktDstAddr => record.pkt_dstaddr = value.address(field)?,
        Field::Region => record.region = value.symbol(field)?,
        Field::AzId => record.az_id = value.symbol(field)?,
        Field::SublocationType => record.sublocation_type = value.symbol(field)?,
        Field::SublocationId => record.sublocation_id = value.symbol(field)?,
        Field::PktSrcAwsService => record.pkt_src_aws_service = value.symbol(field)?,
        Field::PktDstAwsService => record.pkt_dst_aws_service = value.symbol(field)?,
        Field::FlowDirection => {
            record.flow_direction =
                value.keyword(field, &[(b"ingress", FlowDirection::Ingress), (b"egress", FlowDirection::Egress)])?
        }
        Field::TrafficPath => record.traffic_path = value.number(field)?,
        Field::EcsClusterArn => record.ecs.cluster_arn = value.symbol(field)?,
        Field::EcsClusterName => record.ecs.cluster_name = value.symbol(field)?,
        Field::EcsContainerInstanceArn => record.ecs.container_instance_arn = value.symbol(field)?,
        Field::EcsContainerInstanceId => record.ecs.container_instance_id = value.symbol(field)?,
        Field::EcsContainerId => record.ecs.container_id = value.symbol(field)?,
        Field::EcsSecondContainerId => record.ecs.second_container_id = value.symbol(field)?,
        Field::EcsServiceName => record.ecs.service_name = value.symbol(field)?,
        Field::EcsTaskDefinitionArn => record.ecs.task_definition_arn = value.symbol(field)?,
        Field::EcsTaskArn => record.ecs.task_arn = value.symbol(field)?,
        Field::EcsTaskId => record.ecs.task_id = value.symbol(field)?,
        Field::RejectReason => record.reject_reason = value.symbol(field)?,
        Field::ResourceId => record.resource_id = value.symbol(field)?,
        Field::EncryptionStatus => record.encryption_status = value.number(field)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;
    use proptest::strategy::Just;
    use proptest::{prelude::any, prelude::prop, prop_oneof};

    fn record(parser: &mut LineParser, line: &str) -> FlowRecord {
        match parser.parse_line(line.as_bytes()) {
            Ok(Line::Record(r)) => r,
            other => panic!("expected a record from {line:?}, got {other:?}"),
        }
    }

    #[test]
    fn default_v2_line() {
        let mut p = LineParser::new();
        let r = record(
            &mut p,
            "2 123456789012 eni-0f1e2d3c4b5a69788 203.0.113.45 10.20.1.17 49822 443 6 14 2210 1795849200 1795849259 ACCEPT OK",
        );
        assert_eq!(r.version, Some(2));
        assert_eq!(p.interner.resolve(r.account_id), Some("123456789012"));
        assert_eq!(p.interner.resolve(r.interface_id), Some("eni-0f1e2d3c4b5a69788"));
        assert_eq!(r.srcaddr.unwrap().to_string(), "203.0.113.45");
        assert_eq!(r.dstaddr.unwrap().to_string(), "10.20.1.17");
        assert_eq!((r.srcport, r.dstport, r.protocol), (Some(49822), Some(443), Some(6)));
        assert_eq!((r.packets, r.bytes), (Some(14), Some(2210)));
        assert_eq!((r.start, r.end), (Some(1795849200), Some(1795849259)));
        assert_eq!(r.action, Some(Action::Accept));
        assert_eq!(r.log_status, Some(LogStatus::Ok));
        assert_eq!(r.vpc_id, Sym::NONE);
    }

    #[test]
    fn nodata_and_skipdata() {
        let mut p = LineParser::new();
        let r = record(&mut p, "2 123456789012 eni-0f1e2d3c4b5a69788 - - - - - - - 1795849260 1795849319 - NODATA");
        assert_eq!(r.log_status, Some(LogStatus::NoData));
        assert!(r.is_placeholder());
        assert_eq!((r.srcaddr, r.packets, r.action), (None, None, None));
        assert_eq!(r.start, Some(1795849260));
        let r = record(&mut p, "2 123456789012 eni-0aa11bb22cc33dd44 - - - - - - - 1795849260 1795849319 - SKIPDATA");
        assert_eq!(r.log_status, Some(LogStatus::SkipData));
    }

    #[test]
    fn numbers_beyond_physical_limits_are_malformed_on_every_path() {
        use crate::limits::{MAX_RECORD_BYTES, MAX_RECORD_PACKETS, MAX_UNIX_SECS};
        let line = |packets: u64, bytes: u64, start: u64, end: u64| {
            format!("2 123456789012 eni-0a1b 10.0.0.1 10.0.0.2 443 49152 6 {packets} {bytes} {start} {end} ACCEPT OK")
        };
        // The default (fast) path, the framed path and a custom header.
        for header in [
            None,
            Some(
                "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
            ),
        ] {
            let mut p = LineParser::new();
            if let Some(h) = header {
                assert_eq!(p.parse_line(h.as_bytes()), Ok(Line::Header));
            }
            let ok = record(&mut p, &line(MAX_RECORD_PACKETS, MAX_RECORD_BYTES, 100, MAX_UNIX_SECS));
            assert_eq!(
                (ok.packets, ok.bytes, ok.end),
                (Some(MAX_RECORD_PACKETS), Some(MAX_RECORD_BYTES), Some(MAX_UNIX_SECS))
            );
            assert_eq!(
                p.parse_line(line(1, 18_446_744_068_709_552_616, 100, 160).as_bytes()),
                Err(LineError::Implausible {
                    field: Field::Bytes,
                    value: 18_446_744_068_709_552_616,
                    limit: MAX_RECORD_BYTES
                })
            );
            assert_eq!(
                p.parse_line(line(MAX_RECORD_PACKETS + 1, 1, 100, 160).as_bytes()),
                Err(LineError::Implausible {
                    field: Field::Packets,
                    value: MAX_RECORD_PACKETS + 1,
                    limit: MAX_RECORD_PACKETS
                })
            );
            assert_eq!(
                p.parse_line(line(1, 1, u64::MAX, u64::MAX).as_bytes()),
                Err(LineError::Implausible { field: Field::Start, value: u64::MAX, limit: MAX_UNIX_SECS })
            );
            assert_eq!(
                p.parse_line(line(1, 1, 160, 100).as_bytes()),
                Err(LineError::EndBeforeStart { start: 160, end: 100 })
            );
            // Through the reader's in-place path too.
            let mut r = FlowRecord::default();
            let text = format!("{}\n{}\n", line(1, 1, 160, 100), line(1, 1, 100, 160));
            assert_eq!(p.parse_record_line(text.as_bytes(), &mut r), None);
        }
    }

    #[test]
    fn v5_custom_header_and_all_fields() {
        let mut p = LineParser::new();
        let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";
        assert_eq!(p.parse_line(header.as_bytes()), Ok(Line::Header));
        let r = record(
            &mut p,
            "5 123456789012 eni-0aa11bb22cc33dd44 10.20.2.10 52.216.8.21 41876 443 6 38 61422 1795849204 1795849211 ACCEPT OK vpc-0a1b2c3d4e5f60718 subnet-0fedcba9876543210 i-0fedcba9876543210 3 IPv4 10.20.2.57 52.216.8.21 us-east-1 use1-az4 - - - S3 egress 7",
        );
        assert_eq!(r.version, Some(5));
        assert_eq!(p.interner.resolve(r.vpc_id), Some("vpc-0a1b2c3d4e5f60718"));
        assert_eq!(p.interner.resolve(r.instance_id), Some("i-0fedcba9876543210"));
        assert_eq!(r.tcp_flags, Some(3));
        assert_eq!(r.traffic_type, Some(TrafficType::Ipv4));
        assert_eq!(r.pkt_srcaddr.unwrap().to_string(), "10.20.2.57");
        assert_eq!(r.packet_src().unwrap().to_string(), "10.20.2.57");
        assert_eq!(p.interner.resolve(r.region), Some("us-east-1"));
        assert_eq!(p.interner.resolve(r.az_id), Some("use1-az4"));
        assert_eq!(r.sublocation_type, Sym::NONE);
        assert_eq!(r.pkt_src_aws_service, Sym::NONE);
        assert_eq!(p.interner.resolve(r.pkt_dst_aws_service), Some("S3"));
        assert_eq!(r.flow_direction, Some(FlowDirection::Egress));
        assert_eq!(r.traffic_path, Some(7));
    }

    #[test]
    fn custom_order_is_honoured() {
        let mut p = LineParser::new();
        p.parse_line(b"start end bytes packets srcaddr dstaddr log-status").unwrap();
        let r = record(&mut p, "100 160 5000 7 10.0.0.1 10.0.0.2 OK");
        assert_eq!((r.start, r.end, r.bytes, r.packets), (Some(100), Some(160), Some(5000), Some(7)));
        assert_eq!(r.version, None);
    }

    #[test]
    fn ecs_and_v8_fields() {
        let mut p = LineParser::new();
        p.parse_line(b"version interface-id ecs-cluster-name ecs-task-id reject-reason resource-id encryption-status")
            .unwrap();
        let r = record(&mut p, "8 eni-1 backend-cluster e504f037-35c BPA nat-0abc 2");
        assert_eq!(p.interner.resolve(r.ecs.cluster_name), Some("backend-cluster"));
        assert_eq!(p.interner.resolve(r.ecs.task_id), Some("e504f037-35c"));
        assert_eq!(p.interner.resolve(r.reject_reason), Some("BPA"));
        assert_eq!(p.interner.resolve(r.resource_id), Some("nat-0abc"));
        assert_eq!(r.encryption_status, Some(2));
    }

    #[test]
    fn repeated_headers_switch_schema() {
        let mut p = LineParser::new();
        p.parse_line(b"version srcaddr bytes").unwrap();
        let r = record(&mut p, "3 10.0.0.1 99");
        assert_eq!(r.bytes, Some(99));
        p.parse_line(b"bytes srcaddr").unwrap();
        let r = record(&mut p, "77 10.0.0.9");
        assert_eq!(r.bytes, Some(77));
        assert_eq!(p.schema_generation(), 2);
    }

    #[test]
    fn crlf_and_trailing_spaces() {
        let mut p = LineParser::new();
        let r = record(&mut p, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 REJECT OK   \r");
        assert_eq!(r.action, Some(Action::Reject));
        assert_eq!(p.parse_line(b"   \r").unwrap(), Line::Blank);
        assert_eq!(p.parse_line(b"").unwrap(), Line::Blank);
    }

    #[test]
    fn ipv6_addresses() {
        let mut p = LineParser::new();
        let r = record(
            &mut p,
            "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
        );
        assert!(!r.srcaddr.unwrap().is_ipv4());
        assert_eq!(r.dstaddr.unwrap().to_string(), "2001:db8:1234:a102:3304:8879:34cf:4071");
    }

    #[test]
    fn unknown_fields_are_carried_and_ignored() {
        let mut p = LineParser::new();
        p.parse_line(b"version tgw-id srcaddr future-field").unwrap();
        assert_eq!(p.schema().unwrap().unknown_names().collect::<Vec<_>>(), vec!["tgw-id", "future-field"]);
        let r = record(&mut p, "6 tgw-0abc 10.1.1.1 whatever");
        assert_eq!(r.version, Some(6));
        assert_eq!(r.srcaddr.unwrap().to_string(), "10.1.1.1");
    }

    #[test]
    fn malformed_lines_name_the_problem() {
        let mut p = LineParser::new();
        let err = p.parse_line(b"2 1 eni-1 - - - - - - - 1742570089 1742570142 -").unwrap_err();
        assert_eq!(err, LineError::FieldCount { expected: 14, found: 13 });
        let err = p.parse_line(b"2 1 eni-1 - - - - - - - 1742570089 1742570142 - NODATA extra").unwrap_err();
        assert_eq!(err, LineError::FieldCount { expected: 14, found: 15 });
        let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 x1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadNumber { field: Field::Packets, .. }), "{err}");
        let err = p.parse_line(b"2 1 eni-1 10.0.0.256 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadAddress { field: Field::SrcAddr, .. }), "{err}");
        let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 70000 2 6 1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadNumber { field: Field::SrcPort, .. }), "{err}");
        let err = p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ALLOW OK").unwrap_err();
        assert!(matches!(err, LineError::BadValue { field: Field::Action, .. }), "{err}");
        let err =
            p.parse_line(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 99999999999999999999999 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadNumber { field: Field::Bytes, .. }), "{err}");
    }

    #[test]
    fn duplicate_header_invalidates_following_lines() {
        let mut p = LineParser::new();
        let err = p.parse_line(b"version srcaddr srcaddr").unwrap_err();
        assert!(matches!(err, LineError::BadHeader { .. }), "{err}");
        let err = p.parse_line(b"2 10.0.0.1 10.0.0.2").unwrap_err();
        assert!(matches!(err, LineError::NoSchema { .. }), "{err}");
        p.parse_line(b"version srcaddr dstaddr").unwrap();
        assert!(matches!(p.parse_line(b"2 10.0.0.1 10.0.0.2"), Ok(Line::Record(_))));
    }

    #[test]
    fn ipv4_parser_rejects_oddities() {
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.",
            ".1.2.3",
            "a.b.c.d",
            "",
            "1.2.3.1234",
            "10::1",
        ] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_ipv4(b"0.0.0.0"), Some(0));
        assert_eq!(parse_ipv4(b"255.255.255.255"), Some(u32::MAX));
        assert_eq!(parse_ipv4(b"10.20.4.17"), Some(0x0a14_0411));
        assert_eq!(parse_ipv4(b"192.168.100.200"), Some(0xc0a8_64c8));
    }

    /// Elastic's "all fields" sample: a version-5 line of 29 fields with no header.
    const V5_ALL: &str = "5 64111117617 eni-069xxxxxb7a490 89.160.20.156 10.200.0.0 50041 33004 17 52 1 164000066 1640000297 REJECT OK vpc-09676f97xxxxxb8a7 subnet-02d645xxxxxxxdbc0 i-0axxxxxx1ad77 1 IPv4 89.160.20.156 10.200.0.80 us-east-1 use1-az5 - - AMAZON CLOUDFRONT ingress 1";

    #[test]
    fn headerless_all_fields_lines_are_inferred_from_their_version() {
        assert_eq!(catalogue_len(2), 14);
        assert_eq!(catalogue_len(3), 21);
        assert_eq!(catalogue_len(5), 29);
        assert_eq!(catalogue_len(6), 29);
        assert_eq!(catalogue_len(8), 40);
        assert_eq!(catalogue_len(10), 42);
        let mut p = LineParser::new();
        let r = record(&mut p, V5_ALL);
        assert_eq!(r.version, Some(5));
        assert_eq!((r.start, r.end), (Some(164000066), Some(1640000297)));
        assert_eq!(r.action, Some(Action::Reject));
        assert_eq!(p.interner.resolve(r.subnet_id), Some("subnet-02d645xxxxxxxdbc0"));
        assert_eq!(r.tcp_flags, Some(1));
        assert_eq!(r.pkt_dstaddr.unwrap().to_string(), "10.200.0.80");
        assert_eq!(p.interner.resolve(r.az_id), Some("use1-az5"));
        assert_eq!(p.interner.resolve(r.pkt_src_aws_service), Some("AMAZON"));
        assert_eq!(p.interner.resolve(r.pkt_dst_aws_service), Some("CLOUDFRONT"));
        assert_eq!(r.flow_direction, Some(FlowDirection::Ingress));
        assert_eq!(r.traffic_path, Some(1));
        assert_eq!(p.last_schema().unwrap().len(), 29);
        let generation = p.schema_generation();
        // A v2 line after it goes back to the default order, without the v5 values.
        let r = record(&mut p, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK");
        assert_eq!((r.vpc_id, r.traffic_path), (Sym::NONE, None));
        assert_eq!(p.last_schema().unwrap().len(), 14);
        assert!(p.schema_generation() > generation);
        // Reusing one record across both kinds of line gives the same values.
        let mut reused = FlowRecord::default();
        assert_eq!(p.parse_line_reusing(V5_ALL.as_bytes(), &mut reused), Ok(LineKind::Record));
        assert_eq!(reused.traffic_path, Some(1));
        assert_eq!(
            p.parse_line_reusing(b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK", &mut reused),
            Ok(LineKind::Record)
        );
        assert_eq!((reused.traffic_path, reused.vpc_id), (None, Sym::NONE));
    }

    #[test]
    fn a_line_of_the_wrong_length_is_reported_as_such() {
        let mut p = LineParser::new();
        // A Transit Gateway line: its third token is no address, but its length is the problem.
        let tgw = "6 - 748335378900 tgw-0a12bc34de56f7890 tgw-attach-0789ijkl - - vpc-0jkl5678 vpc-0ghi9012 - - eni-0cc3 eni-0cc3 - - - 1.128.0.0 2a02:cf40:: 39464 22 6 49 8947 1755592533 1755592558 SKIPDATA";
        assert_eq!(p.parse_line(tgw.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 26 }));
    }

    #[test]
    fn inference_needs_a_matching_count_and_no_header() {
        let mut p = LineParser::new();
        // Version 3 names 21 fields, not 29.
        let v3_with_29 = V5_ALL.replacen('5', "3", 1);
        assert_eq!(p.parse_line(v3_with_29.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 29 }));
        // Version 11 is outside the catalogue this parser infers.
        let v11 = V5_ALL.replacen('5', "11", 1);
        assert_eq!(p.parse_line(v11.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 29 }));
        // After a header, the header rules.
        p.parse_line(DEFAULT_V2.iter().map(|f| f.name()).collect::<Vec<_>>().join(" ").as_bytes()).unwrap();
        assert_eq!(p.parse_line(V5_ALL.as_bytes()), Err(LineError::FieldCount { expected: 14, found: 29 }));
        // A custom default format is never second-guessed.
        let mut p = LineParser::with_schema(Schema::from_fields(&DEFAULT_V2[..3]));
        assert_eq!(p.parse_line(V5_ALL.as_bytes()), Err(LineError::FieldCount { expected: 3, found: 29 }));
    }

    #[test]
    fn every_catalogue_field_parses_from_an_all_versions_header() {
        let mut p = LineParser::new();
        let header: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(p.parse_line(header.join(" ").as_bytes()), Ok(Line::Header));
        let values = [
            "10",
            "123456789012",
            "eni-1",
            "10.0.0.1",
            "2001:db8::1",
            "1024",
            "443",
            "6",
            "9",
            "900",
            "100",
            "160",
            "ACCEPT",
            "OK",
            "vpc-1",
            "subnet-1",
            "i-1",
            "19",
            "IPv6",
            "192.168.0.1",
            "::ffff:1.2.3.4",
            "eu-west-1",
            "euw1-az1",
            "outpost",
            "op-1",
            "S3",
            "EC2",
            "egress",
            "8",
            "arn:c",
            "c",
            "arn:ci",
            "ci",
            "ct1",
            "ct2",
            "svc",
            "arn:td",
            "arn:t",
            "t",
            "EC",
            "nat-1",
            "3",
        ];
        assert_eq!(values.len(), Field::ALL.len());
        let r = record(&mut p, &values.join(" "));
        let s = |sym| p.interner.resolve(sym).unwrap().to_string();
        assert_eq!(r.version, Some(10));
        assert_eq!(s(r.account_id), "123456789012");
        assert_eq!(s(r.interface_id), "eni-1");
        assert_eq!(r.srcaddr.unwrap().to_string(), "10.0.0.1");
        assert_eq!(r.dstaddr.unwrap().to_string(), "2001:db8::1");
        assert_eq!((r.srcport, r.dstport, r.protocol), (Some(1024), Some(443), Some(6)));
        assert_eq!((r.packets, r.bytes, r.start, r.end), (Some(9), Some(900), Some(100), Some(160)));
        assert_eq!((r.action, r.log_status), (Some(Action::Accept), Some(LogStatus::Ok)));
        assert_eq!((s(r.vpc_id), s(r.subnet_id), s(r.instance_id)), ("vpc-1".into(), "subnet-1".into(), "i-1".into()));
        assert_eq!((r.tcp_flags, r.traffic_type), (Some(19), Some(TrafficType::Ipv6)));
        assert_eq!(r.pkt_srcaddr.unwrap().to_string(), "192.168.0.1");
        // An IPv4-mapped IPv6 address is the same number as the IPv4 address.
        assert_eq!(r.pkt_dstaddr.unwrap().to_string(), "1.2.3.4");
        assert_eq!((s(r.region), s(r.az_id)), ("eu-west-1".into(), "euw1-az1".into()));
        assert_eq!((s(r.sublocation_type), s(r.sublocation_id)), ("outpost".into(), "op-1".into()));
        assert_eq!((s(r.pkt_src_aws_service), s(r.pkt_dst_aws_service)), ("S3".into(), "EC2".into()));
        assert_eq!((r.flow_direction, r.traffic_path), (Some(FlowDirection::Egress), Some(8)));
        let ecs = [
            r.ecs.cluster_arn,
            r.ecs.cluster_name,
            r.ecs.container_instance_arn,
            r.ecs.container_instance_id,
            r.ecs.container_id,
            r.ecs.second_container_id,
            r.ecs.service_name,
            r.ecs.task_definition_arn,
            r.ecs.task_arn,
            r.ecs.task_id,
        ];
        assert_eq!(
            ecs.map(s),
            ["arn:c", "c", "arn:ci", "ci", "ct1", "ct2", "svc", "arn:td", "arn:t", "t"].map(String::from)
        );
        assert_eq!((s(r.reject_reason), s(r.resource_id)), ("EC".into(), "nat-1".into()));
        assert_eq!(r.encryption_status, Some(3));
        // Every field missing: a line of dashes is a record with nothing in it.
        let dashes = vec!["-"; Field::ALL.len()].join(" ");
        assert_eq!(record(&mut p, &dashes), FlowRecord::default());
    }

    #[test]
    fn swar_number_parsing_matches_the_scalar_one() {
        let line = b"0 7 42 65535 99999999 123456789 1795849200 18446744073709551615 18446744073709551616 1a 12345678x 0000000001";
        let mut pos = 0;
        for token in line.split(|&b| b == b' ') {
            let end = pos + token.len();
            assert_eq!(digits_at(line, pos, end), parse_u64(token), "{}", String::from_utf8_lossy(token));
            pos = end + 1;
        }
        assert_eq!(digits_at(b"1795849200", 0, 10), Some(1_795_849_200));
        assert_eq!(digits_at(b"x9", 1, 2), Some(9));
        for bad in [&b"9/"[..], b"9:", b"\xff1", b"1 2", b"+1", b"-1"] {
            assert_eq!(digits_at(bad, 0, bad.len()), None, "{bad:?}");
        }
    }

    #[test]
    fn digit_runs_match_the_scalar_parser() {
        let line = b"0 7 42 65535 99999999 123456789 1795849200 123456789012345 1234567890123456 1a 00000001x";
        let mut pos = 0;
        for token in line.split(|&b| b == b' ') {
            let digits = token.iter().take_while(|b| b.is_ascii_digit()).count();
            let expected = match digits {
                1..=15 => {
                    parse_u64(&token[..digits]).map(|v| (v, pos + digits, line.get(pos + digits).copied().unwrap_or(0)))
                }
                _ => None,
            };
            assert_eq!(digit_run(line, pos), expected, "{}", String::from_utf8_lossy(token));
            pos += token.len() + 1;
        }
        for not_digits in [&b"/"[..], b":", b"\xff", b" 1", b"", b"-1"] {
            assert_eq!(digit_run(not_digits, 0), None, "{not_digits:?}");
        }
        // A 0xff byte after the digits must not disturb them (the +6 carries out of it).
        assert_eq!(digit_run(b"12\xff\xff\xff\xff\xff\xff", 0), Some((12, 2, 0xff)));
    }

    #[test]
    fn ipv4_runs_stop_at_the_end_of_the_address() {
        assert_eq!(ipv4_run(b"10.0.0.1 rest", 0), Some((0x0a00_0001, 8)));
        assert_eq!(ipv4_run(b"x 192.168.100.200", 2), Some((0xc0a8_64c8, 17)));
        // A fourth digit is left for the caller, who finds no separator after the address.
        assert_eq!(ipv4_run(b"1.2.3.1234", 0), Some((0x0102_037b, 9)));
    }

    /// One value per v2 field: mostly well-formed, sometimes missing, sometimes wrong.
    fn v2_value() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (0u64..=u64::MAX).prop_map(|v| v.to_string()),
            8 => (0u64..70_000).prop_map(|v| v.to_string()),
            4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            2 => Just("-".to_string()),
            2 => prop::sample::select(vec!["ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA", "eni-0abc", "123456789012"]).prop_map(String::from),
            1 => prop::sample::select(vec!["2001:db8::1", "01.2.3.4", "1.2.3.4x", "12345678901234567890", "99999999999999999999", "0000000000000000001", "ACCEPTX", "OKAY", "-1", "--", "1e3", "é"]).prop_map(String::from),
        ]
    }

    /// A v2 line in the field order, with its usual value kinds at their places.
    fn v2_line() -> impl Strategy<Value = String> {
        let sep = prop_oneof![20 => Just(" "), 1 => Just("  "), 1 => Just("\t")];
        let number = prop_oneof![6 => (0u64..5_000_000_000).prop_map(|v| v.to_string()), 1 => v2_value()];
        let addr = prop_oneof![6 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")), 1 => v2_value()];
        let symbol = prop_oneof![6 => (0u32..50).prop_map(|v| format!("eni-{v:x}")), 1 => v2_value()];
        let action = prop_oneof![6 => prop::sample::select(vec!["ACCEPT", "REJECT", "-"]).prop_map(String::from), 1 => v2_value()];
        let status = prop_oneof![6 => prop::sample::select(vec!["OK", "NODATA", "SKIPDATA", "-"]).prop_map(String::from), 1 => v2_value()];
        let fields = (
            (number.clone(), symbol.clone(), symbol, addr.clone(), addr),
            proptest::collection::vec(number, 7),
            action,
            status,
        );
        let tail = prop_oneof![10 => Just(""), 1 => Just(" "), 1 => Just("\r"), 1 => Just(" 7")];
        (fields, proptest::collection::vec(sep, 13), tail).prop_map(
            |(((v, a, i, s, d), numbers, act, st), seps, tail)| {
                let mut values = vec![v, a, i, s, d];
                values.extend(numbers);
                values.push(act);
                values.push(st);
                let mut line = String::new();
                for (index, value) in values.iter().enumerate() {
                    line.push_str(value);
                    if let Some(sep) = seps.get(index) {
                        line.push_str(sep);
                    }
                }
                line.push_str(tail);
                line
            },
        )
    }

    /// A value for one slot of a plan: mostly one of its kind, sometimes anything.
    fn slot_value(slot: Slot) -> proptest::strategy::BoxedStrategy<String> {
        prop_oneof![8 => valid_value(slot), 1 => v2_value()].boxed()
    }

    /// A value of the slot's kind.
    fn valid_value(slot: Slot) -> proptest::strategy::BoxedStrategy<String> {
        let number = prop_oneof![
            3 => (0u64..256).prop_map(|v| v.to_string()),
            2 => (0u64..5_000_000_000).prop_map(|v| v.to_string()),
            1 => Just("-".to_string()),
        ]
        .boxed();
        let words = |words: &[&'static str]| prop::sample::select(words.to_vec()).prop_map(String::from).boxed();
        match slot {
            Slot::Known(Field::SrcAddr | Field::DstAddr | Field::PktSrcAddr | Field::PktDstAddr) => prop_oneof![
                6 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
                1 => Just("2001:db8::5".to_string()),
                1 => Just("-".to_string()),
            ]
            .boxed(),
            Slot::Known(Field::Action) => words(&["ACCEPT", "REJECT", "-"]),
            Slot::Known(Field::LogStatus) => words(&["OK", "NODATA", "SKIPDATA", "-"]),
            Slot::Known(Field::Type) => words(&["IPv4", "IPv6", "EFA", "-"]),
            Slot::Known(Field::FlowDirection) => words(&["ingress", "egress", "-"]),
            Slot::Known(
                Field::Version
                | Field::SrcPort
                | Field::DstPort
                | Field::Protocol
                | Field::Packets
                | Field::Bytes
                | Field::Start
                | Field::End
                | Field::TcpFlags
                | Field::TrafficPath
                | Field::EncryptionStatus,
            ) => number,
            // Identifiers of up to five words, across the 32 bytes the cache takes.
            Slot::Known(_) | Slot::Unknown => prop_oneof![
                6 => (0u32..50).prop_map(|v| format!("id-{v:x}")),
                2 => "[a-z0-9-]{1,40}",
                1 => Just("-".to_string()),
            ]
            .boxed(),
        }
    }

    /// A header of known fields in a random order (sometimes with an unknown name) and
    /// lines for it; half the time the header is one of the straight-line orders.
    fn planned_lines() -> impl Strategy<Value = (String, Vec<String>)> {
        let order = Just(Field::ALL.to_vec()).prop_shuffle();
        let keep = proptest::collection::vec(proptest::bool::weighted(0.4), Field::ALL.len());
        let unknown_at = proptest::option::of(0usize..Field::ALL.len());
        let random_order = (order, keep, unknown_at).prop_filter_map("no fields", |(order, keep, unknown_at)| {
            let mut slots: Vec<Slot> =
                order.iter().zip(&keep).filter(|(_, k)| **k).map(|(f, _)| Slot::Known(*f)).collect();
            if let Some(at) = unknown_at {
                slots.insert(at.min(slots.len()), Slot::Unknown);
            }
            (!slots.is_empty()).then_some(slots)
        });
        let straight_line = prop::sample::select(STRAIGHT_LINE_ORDERS.to_vec())
            .prop_map(|(order, _)| order.iter().map(|&field| Slot::Known(field)).collect::<Vec<_>>());
        prop_oneof![random_order, straight_line].prop_flat_map(|slots| {
            let sep = prop_oneof![20 => Just(" "), 1 => Just("  "), 1 => Just("\t")];
            let tail = prop_oneof![10 => Just(""), 1 => Just(" "), 1 => Just("\r"), 1 => Just(" 7")];
            // Lines of many fields are rarely all valid with one value per field left to
            // chance: half the lines are built of valid values only.
            let values = prop_oneof![
                slots.iter().map(|&slot| slot_value(slot)).collect::<Vec<_>>(),
                slots.iter().map(|&slot| valid_value(slot)).collect::<Vec<_>>(),
            ];
            let seps = prop_oneof![proptest::collection::vec(sep, slots.len()), Just(vec![" "; slots.len()]),];
            let line = (values, seps, tail).prop_map(|(values, seps, tail)| {
                let mut line = String::new();
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        line.push_str(seps[index]);
                    }
                    line.push_str(value);
                }
                line.push_str(tail);
                line
            });
            let header = slots
                .iter()
                .map(|slot| match slot {
                    Slot::Known(field) => field.name(),
                    Slot::Unknown => "future-field",
                })
                .collect::<Vec<_>>()
                .join(" ");
            (Just(header), proptest::collection::vec(line, 1..5))
        })
    }

    /// A line that [`LineParser::parse_record_line`] takes from the start of `text` is
    /// all of `line` and gives the record the general path gives.
    fn assert_record_line_agrees(
        parser: &mut LineParser,
        text: &[u8],
        line: &str,
        expected: &Result<Line, LineError>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut record = FlowRecord::default();
        if let Some(len) = parser.parse_record_line(text, &mut record) {
            proptest::prop_assert_eq!(len, line.len(), "{:?}", line);
            proptest::prop_assert_eq!(expected, &Ok(Line::Record(record)), "{:?}", line);
        }
        Ok(())
    }

    #[test]
    fn record_lines_end_at_a_bare_newline() {
        let line = "2 123456789012 eni-0f1e2d3c4b5a69788 203.0.113.45 10.20.1.17 49822 443 6 14 2210 1795849200 1795849259 ACCEPT OK";
        let mut p = LineParser::new();
        let mut record = FlowRecord::default();
        let text = format!("{line}\n{line}\n");
        assert_eq!(p.parse_record_line(text.as_bytes(), &mut record), Some(line.len()));
        assert_eq!(Ok(Line::Record(record)), p.parse_line(line.as_bytes()));
        // CR, a trailing space, no newline yet, a header, a blank line: framed instead.
        for text in
            [format!("{line}\r\n"), format!("{line} \n"), line.to_string(), "version srcaddr\n".into(), "\n".into()]
        {
            assert_eq!(p.parse_record_line(text.as_bytes(), &mut record), None, "{text:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        /// The straight-line v2 path gives what the general path gives, record or error,
        /// also when the line sits in a buffer followed by its `\n` and more lines.
        #[test]
        fn fast_v2_path_agrees_with_the_general_path(lines in proptest::collection::vec(v2_line(), 1..6)) {
            let mut fast = LineParser::new();
            let mut general = LineParser::new();
            let schema = Schema::default_v2();
            general.schema = Ok(Schema { fast_path: FastPath::None, ..schema });
            for line in &lines {
                let expected = general.parse_line(line.as_bytes());
                let got = fast.parse_line(line.as_bytes());
                proptest::prop_assert_eq!(&got, &expected, "{:?}", line);
                let mut in_buffer = line.clone().into_bytes();
                in_buffer.extend_from_slice(b"\n2 123 9 9\n");
                let mut record = FlowRecord::default();
                let kind = fast.parse_line_in(&in_buffer, line.len(), &mut record);
                proptest::prop_assert_eq!(kind.clone(), got.clone().map(|l| match l { Line::Blank => LineKind::Blank, Line::Header => LineKind::Header, Line::Record(_) => LineKind::Record }));
                if let Ok(Line::Record(expected)) = &expected {
                    proptest::prop_assert_eq!(&record, expected);
                    proptest::prop_assert_eq!(fast.interner.resolve(record.interface_id), general.interner.resolve(expected.interface_id));
                }
                assert_record_line_agrees(&mut fast, &in_buffer, line, &expected)?;
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        /// The planned path gives what the general path gives, record or error, for
        /// any field order, also when the line is followed by its `\n` and more lines.
        #[test]
        fn planned_path_agrees_with_the_general_path((header, lines) in planned_lines()) {
            let mut planned = LineParser::new();
            let mut general = LineParser::new();
            proptest::prop_assert_eq!(planned.parse_line(header.as_bytes()), Ok(Line::Header));
            proptest::prop_assert_eq!(general.parse_line(header.as_bytes()), Ok(Line::Header));
            let schema = general.schema.clone().map_err(proptest::test_runner::TestCaseError::fail)?;
            general.schema = Ok(Schema { fast_path: FastPath::None, ..schema });
            for line in &lines {
                let expected = general.parse_line(line.as_bytes());
                let mut in_buffer = line.clone().into_bytes();
                in_buffer.extend_from_slice(b"\n2 123 9 9\n");
                let mut record = FlowRecord::default();
                let kind = planned.parse_line_in(&in_buffer, line.len(), &mut record);
                assert_record_line_agrees(&mut planned, &in_buffer, line, &expected)?;
                match &expected {
                    Ok(Line::Record(expected)) => {
                        proptest::prop_assert_eq!(kind, Ok(LineKind::Record), "{:?}", line);
                        proptest::prop_assert_eq!(&record, expected, "{:?}", line);
                    }
                    Ok(Line::Blank) => proptest::prop_assert_eq!(kind, Ok(LineKind::Blank)),
                    Ok(Line::Header) => proptest::prop_assert_eq!(kind, Ok(LineKind::Header)),
                    Err(err) => proptest::prop_assert_eq!(kind, Err(err.clone()), "{:?}", line),
                }
            }
        }
    }

    proptest::proptest! {
        /// Dotted quads follow the standard library's rules (which also refuse leading
        /// zeros), whatever the digits, dots and lengths.
        #[test]
        fn ipv4_addresses_parse_as_the_standard_library_parses_them(text in "[0-9.]{0,17}") {
            let expected = text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), expected, "{:?}", text);
        }

        #[test]
        fn ipv4_addresses_of_four_octets_parse(octets in proptest::array::uniform4(0u32..300), zero_pad in 0usize..4) {
            let mut parts: Vec<String> = octets.iter().map(|o| o.to_string()).collect();
            if zero_pad < 4 {
                parts[zero_pad].insert(0, '0');
            }
            let text = parts.join(".");
            let expected = text.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), expected, "{:?}", text);
        }
    }

    #[test]
    fn straight_line_orders_are_recognised_from_their_headers() {
        for &(order, fast_path) in STRAIGHT_LINE_ORDERS {
            let header = order.iter().map(|f| f.name()).collect::<Vec<_>>().join(" ");
            assert_eq!(Schema::from_header(header.as_bytes()).unwrap().fast_path, fast_path, "{header}");
            // One field less, or two swapped, is another order: planned.
            assert_eq!(Schema::from_fields(&order[1..]).fast_path, FastPath::Planned);
            let mut swapped = order.to_vec();
            swapped.swap(1, 2);
            assert_eq!(Schema::from_fields(&swapped).fast_path, FastPath::Planned);
        }
        // The "all fields" orders are the catalogue up to their version.
        for (order, version) in [(ALL_V3, 3), (ALL_V4, 4), (ALL_V5, 5)] {
            let catalogue: Vec<Field> = Field::ALL.iter().copied().filter(|f| f.version() <= version).collect();
            assert_eq!(order, catalogue.as_slice());
        }
        assert_eq!(Schema::default_v2().fast_path, FastPath::DefaultV2);
    }

    #[test]
    fn token_end_stops_at_the_first_unprintable_byte() {
        assert_eq!(token_end(b"eni-0123456789abcdef0 x", 0), 21);
        assert_eq!(token_end(b"abc", 0), 3);
        assert_eq!(token_end(b"abcdefgh\tij", 0), 8);
        assert_eq!(token_end(b"abcdefghij\x7fk", 0), 10);
        assert_eq!(token_end(b"abcdefghijk\xc3\xa9", 0), 11);
        assert_eq!(token_end(b"a\x00bcdefghijk", 0), 1);
        assert_eq!(token_end(b"~~~~~~~~~~!", 0), 11);
    }

    #[test]
    fn unprintable_identifiers_are_rejected() {
        let mut p = LineParser::new();
        let err = p.parse_line(b"2 1 eni-\x01bad 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT OK").unwrap_err();
        assert!(matches!(err, LineError::BadValue { field: Field::InterfaceId, .. }), "{err}");
        p.parse_line(b"version tgw-id").unwrap();
        let err = p.parse_line("6 tgw-\u{e9}".as_bytes()).unwrap_err();
        assert!(matches!(&err, LineError::BadUnknown { name, .. } if name == "tgw-id"), "{err}");
    }

    #[test]
    fn tabs_and_runs_of_spaces_separate_fields() {
        let mut p = LineParser::new();
        let r = record(&mut p, "  2\t1  eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 10 20 ACCEPT\tOK");
        assert_eq!((r.version, r.log_status), (Some(2), Some(LogStatus::Ok)));
    }

    #[test]
    fn binary_junk_is_malformed_not_a_panic() {
        let mut p = LineParser::new();
        let junk = [0xffu8, 0x00, 0x1f, 0x8b, b' ', 0xc3, 0x28];
        assert!(p.parse_line(&junk).is_err());
    }
}

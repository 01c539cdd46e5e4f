//! The header-driven line parser.
//!
//! A line whose tokens are all field names is a header: it defines the field order of
//! the lines after it, until the next header. Before any header the default version-2
//! order applies. Tokens are separated by runs of spaces; trailing spaces and a CR are
//! ignored. `-` is a missing value.
//!
//! A record line goes first to the fast path its schema chose when it was made ([`fast`]:
//! straight-line code for the common field orders, a plan for any other); whatever that
//! declines, the general path here reads and, if it must, names the error. Every line
//! the fast paths accept gives the record the general path would: the tests compare
//! them. Both paths set fields through [`value`] and scan bytes with [`swar`].

mod fast;
mod swar;
mod value;

use rustc_hash::FxHashSet;

use crate::field::Field;
use crate::intern::{CacheEntry, Interner};
use crate::record::FlowRecord;
use fast::{FastPath, UNTIL_NEWLINE};
use swar::{parse_u64, token_end};
use value::{Fields, SplitToken, set_value};

// The public field orders are defined with the straight-line code that reads them.
pub use fast::{DEFAULT_V2, SIMULATOR_V5};
pub(crate) use value::set_field;

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

#[cfg(test)]
mod tests;

//! What reading one object, and a whole scan, found.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// The container format of an object, sniffed from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ObjectFormat {
    #[default]
    Text,
    Gzip,
    Parquet,
}

/// Why an object could not be read to its end. Records read before the problem are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObjectError {
    #[error("{object}: cannot read: {message}")]
    Io { object: String, message: String },
    #[error("{object}: corrupt or truncated gzip at compressed offset {offset} (after line {line}): {message}")]
    Corrupt { object: String, offset: u64, line: u64, message: String },
    #[error(
        "{object}: decompressed size exceeds the limit of {limit} bytes (after line {line}); rest of the object skipped"
    )]
    TooLarge { object: String, limit: u64, line: u64 },
    #[error("{object}: not flow-log text (binary data at byte {offset})")]
    Binary { object: String, offset: u64 },
    #[error("{object}: invalid Parquet: {message}")]
    Parquet { object: String, message: String },
}

/// A malformed line, reported with its object and line number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedLine {
    pub object: String,
    /// 1-based line number (row number for Parquet).
    pub line: u64,
    pub reason: String,
}

/// Counts for one NODATA/SKIPDATA-reporting interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlaceholderCounts {
    pub nodata: u64,
    pub skipdata: u64,
}

/// Everything learned from reading one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObjectReport {
    pub name: String,
    pub format: ObjectFormat,
    /// Records parsed and in range, NODATA and SKIPDATA included.
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    pub malformed: u64,
    /// Records parsed but outside `--from/--to`.
    pub out_of_range: u64,
    pub header_lines: u64,
    pub blank_lines: u64,
    pub accept: u64,
    pub reject: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    /// Field names of every schema in force (headers, or the default format).
    pub fields: BTreeSet<String>,
    /// Header names this version does not know (carried, ignored).
    pub unknown_fields: BTreeSet<String>,
    /// Values of the `version` field.
    pub versions: BTreeSet<u8>,
    pub interfaces: BTreeSet<String>,
    /// NODATA/SKIPDATA per interface.
    pub placeholders: BTreeMap<String, PlaceholderCounts>,
    /// The first malformed lines, for the error report.
    pub malformed_samples: Vec<MalformedLine>,
    /// Bytes read from storage (compressed size for gzip).
    pub bytes_read: u64,
    /// Bytes of text after decompression.
    pub bytes_decompressed: u64,
    pub error: Option<ObjectError>,
}

/// The totals of a scan over many objects: what `inspect` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanSummary {
    pub objects: u64,
    /// Objects skipped without reading because their key's date is outside `--from/--to`.
    pub objects_pruned: u64,
    pub objects_failed: u64,
    pub objects_empty: u64,
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    pub malformed: u64,
    pub out_of_range: u64,
    pub accept: u64,
    pub reject: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    pub fields: BTreeSet<String>,
    pub unknown_fields: BTreeSet<String>,
    pub versions: BTreeSet<u8>,
    pub interfaces: u64,
    pub placeholders: BTreeMap<String, PlaceholderCounts>,
    pub bytes_read: u64,
    pub bytes_decompressed: u64,
    pub malformed_samples: Vec<MalformedLine>,
    pub errors: Vec<ObjectError>,
}

impl ScanSummary {
    /// Adds up object reports, keeping at most `max_samples` malformed-line samples.
    pub fn from_reports(reports: &[ObjectReport], objects_pruned: u64, max_samples: usize) -> ScanSummary {
        let mut s = ScanSummary { objects_pruned, ..ScanSummary::default() };
        let mut interfaces = BTreeSet::new();
        for r in reports {
            s.objects += 1;
            s.objects_failed += u64::from(r.error.is_some());
            s.objects_empty +=
                u64::from(r.error.is_none() && r.records == 0 && r.malformed == 0 && r.out_of_range == 0);
            s.records += r.records;
            s.nodata += r.nodata;
            s.skipdata += r.skipdata;
            s.malformed += r.malformed;
            s.out_of_range += r.out_of_range;
            s.accept += r.accept;
            s.reject += r.reject;
            s.first_start = min_opt(s.first_start, r.first_start);
            s.last_end = s.last_end.max(r.last_end);
            s.fields.extend(r.fields.iter().cloned());
            s.unknown_fields.extend(r.unknown_fields.iter().cloned());
            s.versions.extend(r.versions.iter().copied());
            interfaces.extend(r.interfaces.iter().map(String::as_str));
            for (eni, counts) in &r.placeholders {
                let total = s.placeholders.entry(eni.clone()).or_default();
                total.nodata += counts.nodata;
                total.skipdata += counts.skipdata;
            }
            s.bytes_read += r.bytes_read;
            s.bytes_decompressed += r.bytes_decompressed;
            for sample in &r.malformed_samples {
                if s.malformed_samples.len() < max_samples {
                    s.malformed_samples.push(sample.clone());
                }
            }
            if let Some(err) = &r.error {
                s.errors.push(err.clone());
            }
        }
        s.interfaces = interfaces.len() as u64;
        s
    }
}

pub(crate) fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

//! The per-object accounting of [`ObjectReport`], shared by the text and Parquet
//! readers: the fields they meet, their malformed lines, and every record they parse,
//! which is filtered by time here before it goes to the sink.

use rustc_hash::FxHashMap;

use crate::intern::{Interner, Sym};
use crate::options::ReadOptions;
use crate::parse::{LineError, Schema};
use crate::record::{Action, FlowRecord, LogStatus};
use crate::report::{MalformedLine, ObjectFormat, ObjectReport, PlaceholderCounts, min_opt};

/// Per-object accounting shared by the text and Parquet paths.
pub(crate) struct Accounting<'o> {
    pub report: ObjectReport,
    /// Also read by the text reader, for its limits.
    pub opts: &'o ReadOptions,
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

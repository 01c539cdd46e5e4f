//! Where the records of an object go: the caller's [`RecordSink`].

use crate::intern::Interner;
use crate::record::FlowRecord;

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

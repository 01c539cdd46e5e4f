//! Reading AWS VPC Flow Logs exactly as AWS delivers them.
//!
//! This crate owns the flow record ([`FlowRecord`]), the catalogue of field names of
//! versions 2 to 10 ([`Field`]), the header-driven text parser ([`LineParser`]), the
//! gzip/plain/Parquet object readers with their accounting ([`ObjectReport`]), the AWS
//! S3 key layout ([`KeyInfo`]) and the parallel scan over many objects ([`scan`]).
//!
//! It is pure and synchronous: it does no network I/O (remote objects come in through
//! [`RemoteOpener`]), knows nothing of features or models, and never panics on input.
//! Bad lines are counted and sampled with their object and line number; a damaged
//! object keeps the records read before the damage and reports where it broke.

mod accounting;
mod field;
mod intern;
mod keylayout;
pub mod limits;
mod options;
mod parquet;
mod parse;
mod reader;
mod record;
mod report;
mod sink;
mod source;
pub mod time;
mod write;

pub use field::Field;
pub use intern::{Interner, Sym};
pub use keylayout::{KeyInfo, MAX_START_BEFORE_BUCKET_SECS};
pub use options::{DEFAULT_IN_MEMORY_GZIP_BYTES, DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_LINE_BYTES, ReadOptions};
pub use parquet::read_parquet;
pub use parse::{
    DEFAULT_V2, Line, LineError, LineKind, LineParser, MAX_HEADER_FIELDS, SIMULATOR_V5, Schema, check_plausible,
};
pub use reader::{GzipInMemory, read_stream};
pub use record::{Action, Addr, EcsFields, FlowDirection, FlowRecord, LogStatus, TrafficType};
pub use report::{MalformedLine, ObjectError, ObjectFormat, ObjectReport, PlaceholderCounts, ScanSummary};
pub use sink::{NullSink, RecordSink};
pub use source::{
    Location, ObjectRef, Partial, RemoteOpener, SourceError, discover_local, is_flow_log_name, read_object, scan,
};
pub use write::{write_header, write_record};

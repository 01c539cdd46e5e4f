//! The physical bounds of a flow-log record's numbers.
//!
//! A value past them cannot come from a network interface: it is a corrupt or forged
//! line, and the readers count it as malformed (with its object and line) instead of
//! adding it to anything. Behind these bounds every aggregate adds with saturation, so
//! no mix of valid records can wrap a sum either.

/// Bytes in one record. The fastest EC2 interfaces carry 3,200 Gbit/s and a record
/// covers at most a 10-minute aggregation interval: 2.4 × 10^14 bytes. The bound,
/// 2^50 ≈ 1.1 × 10^15, is 4.7 times that.
pub const MAX_RECORD_BYTES: u64 = 1 << 50;

/// Packets in one record: 2^46 ≈ 7 × 10^13, 19 times what 3,200 Gbit/s of the
/// smallest (64-byte) frames gives in 10 minutes (3.75 × 10^12).
pub const MAX_RECORD_PACKETS: u64 = 1 << 46;

/// The latest `start` or `end` (Unix seconds): 2262-04-11T23:47:16Z, the last second
/// nanosecond timestamps (pandas, Arrow, most Parquet readers) can hold, so every
/// time flowhound writes loads in them; window arithmetic on it cannot overflow.
pub const MAX_UNIX_SECS: u64 = 9_223_372_036;

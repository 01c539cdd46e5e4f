//! The AWS S3 key layout of flow-log objects, parsed so that a time range can skip
//! whole objects without opening them.
//!
//! ```text
//! .../AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<MM>/<dd>/[<HH>/]<file>
//! .../AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/year=<yyyy>/month=<MM>/day=<dd>/[hour=<HH>/]<file>
//! <file> = <account>_vpcflowlogs_<region>_<flow-log-id>_<yyyyMMddTHHmmZ>_<hash>.log.gz | .log.parquet
//! ```
//! The file-name time names the 5-minute bucket of record `end` times.

use serde::Serialize;

use crate::time::days_from_civil;

/// Records start at most this long before the end-time bucket of their object: one
/// 10-minute aggregation interval plus AWS's up-to-60 s capture lag, rounded up generously.
pub const MAX_START_BEFORE_BUCKET_SECS: u64 = 3_600;

/// What the key of a flow-log object says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub account_id: String,
    pub region: String,
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: Option<u32>,
    /// `fl-…`, when the file name follows the AWS pattern.
    pub flow_log_id: Option<String>,
    /// Epoch seconds of the file name's 5-minute bucket of record end times.
    pub file_time: Option<u64>,
}

impl KeyInfo {
    /// Parses a key or path; `None` when it does not follow the AWS layout.
    pub fn parse(key: &str) -> Option<KeyInfo> {
        let parts: Vec<&str> = key.split(['/', '\\']).collect();
        let at = parts.iter().rposition(|p| *p == "AWSLogs")?;
        let rest = &parts[at + 1..];
        if rest.len() < 7 {
            return None;
        }
        let account_id = strip(rest[0], "aws-account-id=");
        let service = strip(rest[1], "aws-service=");
        if service != "vpcflowlogs" || account_id.is_empty() || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let region = strip(rest[2], "aws-region=").to_string();
        let year: i64 = strip(rest[3], "year=").parse().ok()?;
        let month: u32 = parse_2digit(strip(rest[4], "month="), 1, 12)?;
        let day: u32 = parse_2digit(strip(rest[5], "day="), 1, 31)?;
        let (hour, file) = match rest.len() {
            7 => (None, rest[6]),
            8 => (Some(parse_2digit(strip(rest[6], "hour="), 0, 23)?), rest[7]),
            _ => return None,
        };
        let mut info = KeyInfo {
            account_id: account_id.to_string(),
            region,
            year,
            month,
            day,
            hour,
            flow_log_id: None,
            file_time: None,
        };
        info.parse_file_name(file);
        Some(info)
    }

    fn parse_file_name(&mut self, file: &str) {
        let Some(stem) = file.strip_suffix(".log.gz").or_else(|| file.strip_suffix(".log.parquet")) else {
            return;
        };
        let prefix = format!("{}_vpcflowlogs_{}_", self.account_id, self.region);
        let Some(rest) = stem.strip_prefix(&prefix) else { return };
        let mut pieces = rest.split('_');
        let (Some(flow_log_id), Some(stamp)) = (pieces.next(), pieces.next()) else { return };
        if !flow_log_id.starts_with("fl-") {
            return;
        }
        self.flow_log_id = Some(flow_log_id.to_string());
        self.file_time = parse_stamp(stamp);
    }

    /// The range `[lo, hi)` of record end times the object can hold.
    pub fn end_range(&self) -> (u64, u64) {
        if let Some(t) = self.file_time {
            return (t, t + 300);
        }
        let day_start = (days_from_civil(self.year, self.month, self.day) * 86_400).max(0) as u64;
        match self.hour {
            Some(h) => (day_start + u64::from(h) * 3600, day_start + u64::from(h + 1) * 3600),
            None => (day_start, day_start + 86_400),
        }
    }

    /// False only when no record of the object can have `start` in `[from, to)`.
    pub fn may_overlap(&self, from: Option<u64>, to: Option<u64>) -> bool {
        let (lo, hi) = self.end_range();
        if let Some(from) = from {
            // start <= end < hi <= from
            if hi <= from {
                return false;
            }
        }
        if let Some(to) = to {
            // start >= end - slack >= lo - slack >= to
            if lo.saturating_sub(MAX_START_BEFORE_BUCKET_SECS) >= to {
                return false;
            }
        }
        true
    }
}

fn strip<'a>(part: &'a str, hive_prefix: &str) -> &'a str {
    part.strip_prefix(hive_prefix).unwrap_or(part)
}

fn parse_2digit(s: &str, min: u32, max: u32) -> Option<u32> {
    if s.len() != 2 {
        return None;
    }
    let v: u32 = s.parse().ok()?;
    (min..=max).contains(&v).then_some(v)
}

/// `20180620T1620Z` → epoch seconds.
fn parse_stamp(stamp: &str) -> Option<u64> {
    let b = stamp.as_bytes();
    if b.len() != 14 || b[8] != b'T' || b[13] != b'Z' {
        return None;
    }
    let year: i64 = stamp[0..4].parse().ok()?;
    let month = parse_2digit(&stamp[4..6], 1, 12)?;
    let day = parse_2digit(&stamp[6..8], 1, 31)?;
    let hour = parse_2digit(&stamp[9..11], 0, 23)?;
    let minute = parse_2digit(&stamp[11..13], 0, 59)?;
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + i64::from(hour * 3600 + minute * 60)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout() {
        let k = KeyInfo::parse(
            "bucket/prefix/AWSLogs/123456789012/vpcflowlogs/us-east-1/2018/06/20/123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz",
        )
        .unwrap();
        assert_eq!(k.account_id, "123456789012");
        assert_eq!(k.region, "us-east-1");
        assert_eq!((k.year, k.month, k.day, k.hour), (2018, 6, 20, None));
        assert_eq!(k.flow_log_id.as_deref(), Some("fl-1234abcd"));
        assert_eq!(k.file_time, Some(1_529_511_600));
        assert_eq!(k.end_range(), (1_529_511_600, 1_529_511_900));
    }

    #[test]
    fn hive_hourly_parquet_layout() {
        let k = KeyInfo::parse(
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=11/day=20/hour=13/123456789012_vpcflowlogs_eu-west-1_fl-0abc_20261120T1305Z_ab12.log.parquet",
        )
        .unwrap();
        assert_eq!(k.region, "eu-west-1");
        assert_eq!(k.hour, Some(13));
        assert_eq!(k.flow_log_id.as_deref(), Some("fl-0abc"));
        assert!(k.file_time.is_some());
    }

    #[test]
    fn day_folder_without_aws_file_name() {
        let k = KeyInfo::parse("x/AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/20/custom.log.gz").unwrap();
        assert_eq!(k.file_time, None);
        let day = (days_from_civil(2026, 11, 20) * 86_400) as u64;
        assert_eq!(k.end_range(), (day, day + 86_400));
        assert!(k.may_overlap(Some(day + 100), Some(day + 200)));
        assert!(!k.may_overlap(Some(day + 86_400), None));
        assert!(!k.may_overlap(None, Some(day - MAX_START_BEFORE_BUCKET_SECS)));
        assert!(k.may_overlap(None, Some(day - MAX_START_BEFORE_BUCKET_SECS + 1)));
    }

    #[test]
    fn not_the_layout() {
        assert_eq!(KeyInfo::parse("/tmp/flows.log.gz"), None);
        assert_eq!(KeyInfo::parse("AWSLogs/123/elasticloadbalancing/us-east-1/2026/11/20/x.log.gz"), None);
        assert_eq!(KeyInfo::parse("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/13/20/x.log.gz"), None);
    }
}

//! What the feature computation produces: host-window rows with their column schema,
//! pair timing series and internal edges.

use flowhound_flowlog::Addr;
use serde::{Deserialize, Serialize};

use crate::acc::Event;
use crate::config::AddressBlocks;

/// Version of the host-window feature schema; bumped whenever a column is added,
/// removed, renamed or redefined. Models record it and refuse a different one.
pub const FEATURE_SCHEMA_VERSION: u32 = 2;

/// Features of one internal host in one window. Every field is defined in docs/features.md.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostWindow {
    pub host: Addr,
    /// Unix seconds, inclusive.
    pub window_start: u64,
    /// Unix seconds, exclusive.
    pub window_end: u64,
    pub interface_id: Option<String>,
    pub instance_id: Option<String>,
    pub flows_out: u64,
    pub flows_in: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub packets_in: u64,
    pub flows_out_internal: u64,
    pub flows_in_internal: u64,
    pub bytes_out_internal: u64,
    pub bytes_in_internal: u64,
    pub packets_out_internal: u64,
    pub packets_in_internal: u64,
    pub flows_out_external: u64,
    pub flows_in_external: u64,
    pub bytes_out_external: u64,
    pub bytes_in_external: u64,
    pub packets_out_external: u64,
    pub packets_in_external: u64,
    pub bytes_out_aws: u64,
    pub bytes_in_aws: u64,
    pub top_external_dst: Option<Addr>,
    pub top_external_dst_bytes: u64,
    pub top_external_dst_share: f64,
    pub peers_internal: u64,
    pub peers_external: u64,
    pub dsts_out: u64,
    pub dsts_out_internal: u64,
    pub dst_ports: u64,
    pub dst_ports_in: u64,
    pub src_ports_out: u64,
    pub syn_out: u64,
    pub syn_in: u64,
    pub rejects_out: u64,
    pub rejects_in: u64,
    pub admin_conns_out: u64,
    pub admin_conns_in: u64,
    pub max_flow_bytes_out: u64,
    pub out_in_ratio: f64,
    pub incomplete: bool,
    pub overflow: u64,
}

/// The type of a column, as written to Parquet (and formatted in CSV/JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// UTF-8 string, null when absent.
    Text,
    /// Unix seconds; Parquet TIMESTAMP(MILLIS, UTC) holding whole seconds, RFC 3339 text in CSV/JSON.
    Timestamp,
    UInt,
    Float,
    Bool,
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Option<String>),
    Timestamp(u64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// The value as a model input (text and timestamps are not features).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::UInt(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Text(_) | Value::Timestamp(_) => None,
        }
    }
}

/// One output column: its name, type, unit and how to read it from a row.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub unit: &'static str,
    /// True for model inputs (see [`feature_names`]); false for identity columns.
    pub feature: bool,
    get: fn(&HostWindow) -> Value,
}

impl Column {
    pub fn value(&self, row: &HostWindow) -> Value {
        (self.get)(row)
    }
}

macro_rules! uint {
    ($name:ident, $unit:expr) => {
        Column {
            name: stringify!($name),
            kind: ColumnKind::UInt,
            unit: $unit,
            feature: true,
            get: |r| Value::UInt(r.$name),
        }
    };
}

/// Every output column, in output order.
pub const COLUMNS: &[Column] = &[
    Column {
        name: "host",
        kind: ColumnKind::Text,
        unit: "IP address",
        feature: false,
        get: |r| Value::Text(Some(r.host.to_string())),
    },
    Column {
        name: "window_start",
        kind: ColumnKind::Timestamp,
        unit: "UTC",
        feature: false,
        get: |r| Value::Timestamp(r.window_start),
    },
    Column {
        name: "window_end",
        kind: ColumnKind::Timestamp,
        unit: "UTC",
        feature: false,
        get: |r| Value::Timestamp(r.window_end),
    },
    Column {
        name: "interface_id",
        kind: ColumnKind::Text,
        unit: "id",
        feature: false,
        get: |r| Value::Text(r.interface_id.clone()),
    },
    Column {
        name: "instance_id",
        kind: ColumnKind::Text,
        unit: "id",
        feature: false,
        get: |r| Value::Text(r.instance_id.clone()),
    },
    uint!(flows_out, "records"),
    uint!(flows_in, "records"),
    uint!(bytes_out, "bytes"),
    uint!(bytes_in, "bytes"),
    uint!(packets_out, "packets"),
    uint!(packets_in, "packets"),
    uint!(flows_out_internal, "records"),
    uint!(flows_in_internal, "records"),
    uint!(bytes_out_internal, "bytes"),
    uint!(bytes_in_internal, "bytes"),
    uint!(packets_out_internal, "packets"),
    uint!(packets_in_internal, "packets"),
    uint!(flows_out_external, "records"),
    uint!(flows_in_external, "records"),
    uint!(bytes_out_external, "bytes"),
    uint!(bytes_in_external, "bytes"),
    uint!(packets_out_external, "packets"),
    uint!(packets_in_external, "packets"),
    uint!(bytes_out_aws, "bytes"),
    uint!(bytes_in_aws, "bytes"),
    Column {
        name: "top_external_dst",
        kind: ColumnKind::Text,
        unit: "IP address",
        feature: false,
        get: |r| Value::Text(r.top_external_dst.map(|a| a.to_string())),
    },
    uint!(top_external_dst_bytes, "bytes"),
    Column {
        name: "top_external_dst_share",
        kind: ColumnKind::Float,
        unit: "ratio 0-1",
        feature: true,
        get: |r| Value::Float(r.top_external_dst_share),
    },
    uint!(peers_internal, "addresses"),
    uint!(peers_external, "addresses"),
    uint!(dsts_out, "addresses"),
    uint!(dsts_out_internal, "addresses"),
    uint!(dst_ports, "ports"),
    uint!(dst_ports_in, "ports"),
    uint!(src_ports_out, "ports"),
    uint!(syn_out, "records"),
    uint!(syn_in, "records"),
    uint!(rejects_out, "records"),
    uint!(rejects_in, "records"),
    uint!(admin_conns_out, "connections"),
    uint!(admin_conns_in, "connections"),
    uint!(max_flow_bytes_out, "bytes"),
    Column {
        name: "out_in_ratio",
        kind: ColumnKind::Float,
        unit: "ratio",
        feature: true,
        get: |r| Value::Float(r.out_in_ratio),
    },
    Column {
        name: "incomplete",
        kind: ColumnKind::Bool,
        unit: "flag",
        feature: true,
        get: |r| Value::Bool(r.incomplete),
    },
    uint!(overflow, "items"),
];

/// The model input columns, in a stable order (see [`FEATURE_SCHEMA_VERSION`]).
pub fn feature_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    for column in COLUMNS {
        if column.feature {
            names.push(column.name);
        }
    }
    names
}

impl HostWindow {
    /// The values of [`feature_names`], in that order.
    pub fn feature_vector(&self) -> Vec<f64> {
        let mut values = Vec::new();
        for column in COLUMNS {
            if column.feature
                && let Some(v) = column.value(self).as_f64()
            {
                values.push(v);
            }
        }
        values
    }
}

/// Connection events of one (host, external peer, peer port, protocol) over one horizon,
/// for beaconing analysis. Events are the host's records towards the peer, each counted once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairSeries {
    pub host: Addr,
    pub peer: Addr,
    pub port: u16,
    pub protocol: u8,
    /// Unix seconds; events are assigned to the horizon holding their start.
    pub horizon_start: u64,
    pub horizon_end: u64,
    /// The destination was labelled an AWS service (`pkt-dst-aws-service`) in some record.
    pub aws_service: bool,
    /// Events seen, kept or not.
    pub events_total: u64,
    /// Events beyond the per-pair limit (the latest ones) that were not kept.
    pub events_dropped: u64,
    /// Start of each kept event as seconds after the previous one (the first after
    /// `horizon_start`); events are in start order.
    pub start_deltas: Vec<u32>,
    /// Bytes the host sent in each kept event.
    pub bytes: Vec<u64>,
    pub packets: Vec<u64>,
    /// Duration (end - start) of each kept event, seconds.
    pub durations: Vec<u32>,
    pub src_ports: Vec<u16>,
    /// SYN without ACK seen in the event (a connection opened by the host).
    pub syn: Vec<bool>,
}

impl PairSeries {
    pub(crate) fn from_events(key: PairId, events: &[Event], total: u64, aws_service: bool) -> PairSeries {
        let mut s = PairSeries {
            host: key.host,
            peer: key.peer,
            port: key.port,
            protocol: key.protocol,
            horizon_start: key.horizon_start,
            horizon_end: key.horizon_end,
            aws_service,
            events_total: total,
            events_dropped: total.saturating_sub(events.len() as u64),
            start_deltas: Vec::with_capacity(events.len()),
            bytes: Vec::with_capacity(events.len()),
            packets: Vec::with_capacity(events.len()),
            durations: Vec::with_capacity(events.len()),
            src_ports: Vec::with_capacity(events.len()),
            syn: Vec::with_capacity(events.len()),
        };
        let mut previous = key.horizon_start;
        for e in events {
            s.start_deltas.push(u32::try_from(e.start.saturating_sub(previous)).unwrap_or(u32::MAX));
            previous = e.start;
            s.bytes.push(e.bytes);
            s.packets.push(e.packets);
            s.durations.push(u32::try_from(e.end.saturating_sub(e.start)).unwrap_or(u32::MAX));
            s.src_ports.push(e.src_port);
            s.syn.push(e.syn);
        }
        s
    }

    /// Absolute start times (Unix seconds) of the kept events.
    pub fn starts(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.start_deltas.len());
        let mut t = self.horizon_start;
        for d in &self.start_deltas {
            t += u64::from(*d);
            out.push(t);
        }
        out
    }
}

/// The identity of a pair series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PairId {
    pub host: Addr,
    pub peer: Addr,
    pub port: u16,
    pub protocol: u8,
    pub horizon_start: u64,
    pub horizon_end: u64,
}

/// Traffic on one directed internal edge in one window, each flow counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InternalEdge {
    pub window_start: u64,
    pub window_end: u64,
    pub src: Addr,
    pub dst: Addr,
    pub dst_port: u16,
    pub protocol: u8,
    /// Records with action ACCEPT.
    pub flows_accept: u64,
    /// Records with action REJECT.
    pub flows_reject: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Records with SYN and no ACK (connection attempts).
    pub syn: u64,
}

/// Counts of what was read, dropped and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractStats {
    /// Records given to the computation (NODATA/SKIPDATA included).
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    /// Records with neither `end` nor `start`: no window.
    pub untimed: u64,
    /// Records with no internal endpoint (or no address): no host.
    pub unattributed: u64,
    /// Records not counted because another copy of the same flow was.
    pub duplicates_dropped: u64,
    /// Records not counted because the host-window limit was reached.
    pub host_windows_refused: u64,
    /// Edge contributions refused at the edge limit.
    pub edges_refused: u64,
    /// Pair events refused at the pair limit.
    pub pairs_refused: u64,
    /// Pair events beyond the per-pair event limit.
    pub events_dropped: u64,
    /// Peers, ports and connections not remembered at the per-host-window limits.
    pub set_overflow: u64,
    /// Interfaces whose own address could not be learned (they only ever saw one peer).
    pub interfaces_unresolved: u64,
}

impl ExtractStats {
    /// Adds the counts of another computation (a partial over other input, or another drain).
    pub fn merge(&mut self, o: &ExtractStats) {
        self.records += o.records;
        self.nodata += o.nodata;
        self.skipdata += o.skipdata;
        self.untimed += o.untimed;
        self.unattributed += o.unattributed;
        self.duplicates_dropped += o.duplicates_dropped;
        self.host_windows_refused += o.host_windows_refused;
        self.edges_refused += o.edges_refused;
        self.pairs_refused += o.pairs_refused;
        self.events_dropped += o.events_dropped;
        self.set_overflow += o.set_overflow;
        self.interfaces_unresolved += o.interfaces_unresolved;
    }
}

/// The finished result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Sorted by (window_start, host).
    pub rows: Vec<HostWindow>,
    /// Sorted by (host, peer, port, protocol, horizon_start).
    pub pairs: Vec<PairSeries>,
    /// Sorted by (window_start, src, dst, dst_port, protocol).
    pub edges: Vec<InternalEdge>,
    pub stats: ExtractStats,
    /// The address blocks the features were computed with (beyond the built-in ranges).
    pub addresses: AddressBlocks,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_columns_are_present_in_order() {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        let required = [
            "host",
            "window_start",
            "window_end",
            "flows_out",
            "flows_in",
            "bytes_out",
            "bytes_in",
            "packets_out",
            "packets_in",
            "bytes_out_external",
            "bytes_in_external",
            "peers_internal",
            "peers_external",
            "dst_ports",
            "rejects_out",
            "rejects_in",
            "admin_conns_out",
        ];
        for name in required {
            assert!(names.contains(&name), "{name}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn feature_vector_matches_names() {
        let names = feature_names();
        assert_eq!(names.len(), COLUMNS.len() - 6);
        assert_eq!(names[0], "flows_out");
        assert_eq!(*names.last().unwrap(), "overflow");
    }

    #[test]
    fn pair_series_round_trips_starts() {
        let key = PairId {
            host: Addr::from_ipv4_bits(1),
            peer: Addr::from_ipv4_bits(2),
            port: 443,
            protocol: 6,
            horizon_start: 86_400,
            horizon_end: 172_800,
        };
        let events: Vec<Event> = [86_460u64, 86_760, 87_060]
            .iter()
            .map(|&start| Event { start, end: start + 2, bytes: 500, packets: 4, src_port: 5000, syn: true })
            .collect();
        let s = PairSeries::from_events(key, &events, 5, false);
        assert_eq!(s.start_deltas, vec![60, 300, 300]);
        assert_eq!(s.starts(), vec![86_460, 86_760, 87_060]);
        assert_eq!(s.events_dropped, 2);
        assert_eq!(s.durations, vec![2, 2, 2]);
    }
}

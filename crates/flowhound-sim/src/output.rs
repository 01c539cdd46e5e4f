//! Writing a scenario to disk (docs/simulator.md): the AWS-layout object trees, labels.jsonl
//! and scenario.json. Objects are rendered and compressed chunk by chunk in parallel;
//! memory holds at most one chunk per worker thread.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use flate2::Compression;
use flate2::write::GzEncoder;
use flowhound_flowlog::time::{civil_from_days, format_rfc3339};
use flowhound_flowlog::{
    Action, Addr, DEFAULT_V2, Field, FlowDirection, FlowRecord, Interner, LogStatus, Sym, TrafficType, write_header,
    write_record,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, GzipLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::config::Format;
use crate::generate::{Bucket, Rec, chunk_secs, generate_chunk};
use crate::model::{EniKind, Svc};
use crate::scenario::{ExternalPeer, LookAlike, Scenario};
use crate::{DAY, SimError};

/// The v5 custom format: every v2–v5 field the simulator fills, deliberately NOT in
/// AWS catalogue order, so readers must honour the header line.
pub const V5_FIELDS: &[Field] = flowhound_flowlog::SIMULATOR_V5;

/// The Parquet columns: the catalogue's fields up to version 5 in AWS catalogue order, less
/// the sublocation fields (the simulated VPC has no Outposts or Local Zones). Columns are
/// read by name anyway.
pub fn parquet_fields() -> impl Iterator<Item = Field> {
    Field::ALL
        .iter()
        .copied()
        .filter(|f| f.version() <= 5 && !matches!(f, Field::SublocationType | Field::SublocationId))
}

/// Counts of one split (train or test).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SplitStats {
    pub start: u64,
    pub end: u64,
    pub host_days: f64,
    pub objects: u64,
    /// Records written, NODATA and SKIPDATA included.
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    /// Compressed bytes on disk.
    pub bytes: u64,
}

impl SplitStats {
    fn add(&mut self, o: &SplitStats) {
        self.objects += o.objects;
        self.records += o.records;
        self.nodata += o.nodata;
        self.skipdata += o.skipdata;
        self.bytes += o.bytes;
    }
}

/// What `write_scenario` wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteSummary {
    pub train: SplitStats,
    pub test: SplitStats,
    pub hosts: usize,
    pub labels: usize,
    pub lookalikes: usize,
}

/// Interned identifiers for rendering, shared read-only by all threads.
struct RenderCtx {
    interner: Interner,
    account: Sym,
    vpc: Sym,
    region: Sym,
    enis: Vec<(Sym, Sym, Sym, Sym)>,
    svcs: [Sym; 5],
}

impl RenderCtx {
    fn new(s: &Scenario) -> RenderCtx {
        let mut interner = Interner::new();
        let account = interner.intern(s.account_id.as_bytes());
        let vpc = interner.intern(s.vpc_id.as_bytes());
        let region = interner.intern(s.region.as_bytes());
        let enis = s
            .enis
            .iter()
            .map(|e| {
                let sub = &s.subnets[e.subnet];
                (
                    interner.intern(e.interface_id.as_bytes()),
                    e.instance_id.as_ref().map_or(Sym::NONE, |i| interner.intern(i.as_bytes())),
                    interner.intern(sub.id.as_bytes()),
                    interner.intern(sub.az_id.as_bytes()),
                )
            })
            .collect();
        let mut svc = |v: Svc| v.name().map_or(Sym::NONE, |n| interner.intern(n.as_bytes()));
        let svcs = [svc(Svc::None), svc(Svc::S3), svc(Svc::Amazon), svc(Svc::Ec2), svc(Svc::CloudFront)];
        RenderCtx { interner, account, vpc, region, enis, svcs }
    }

    fn svc(&self, v: Svc) -> Sym {
        self.svcs[match v {
            Svc::None => 0,
            Svc::S3 => 1,
            Svc::Amazon => 2,
            Svc::Ec2 => 3,
            Svc::CloudFront => 4,
        }]
    }

    fn flow(&self, r: &Rec, version: u8) -> FlowRecord {
        let (iface, instance, subnet, az) = self.enis[r.eni as usize];
        let mut f = FlowRecord {
            version: Some(version),
            account_id: self.account,
            interface_id: iface,
            start: Some(r.start),
            end: Some(r.end),
            log_status: Some(r.status),
            vpc_id: self.vpc,
            subnet_id: subnet,
            instance_id: instance,
            region: self.region,
            az_id: az,
            ..FlowRecord::default()
        };
        if r.is_placeholder() {
            return f;
        }
        f.srcaddr = Some(Addr::from_ipv4_bits(r.src));
        f.dstaddr = Some(Addr::from_ipv4_bits(r.dst));
        f.srcport = Some(r.sport);
        f.dstport = Some(r.dport);
        f.protocol = Some(r.proto);
        f.packets = Some(r.packets);
        f.bytes = Some(r.bytes);
        f.action = Some(if r.reject { Action::Reject } else { Action::Accept });
        f.tcp_flags = Some(r.flags);
        f.traffic_type = Some(TrafficType::Ipv4);
        f.pkt_srcaddr = Some(Addr::from_ipv4_bits(r.pkt_src));
        f.pkt_dstaddr = Some(Addr::from_ipv4_bits(r.pkt_dst));
        f.pkt_src_aws_service = self.svc(r.src_svc);
        f.pkt_dst_aws_service = self.svc(r.dst_svc);
        f.flow_direction = Some(if r.egress { FlowDirection::Egress } else { FlowDirection::Ingress });
        f.traffic_path = (r.path > 0).then_some(r.path);
        f
    }
}

/// The key of the object holding records that end in `[bucket, bucket + 300)`.
pub fn object_key(s: &Scenario, bucket: u64, ext: &str) -> String {
    let (y, m, d) = civil_from_days((bucket / DAY) as i64);
    let secs = bucket % DAY;
    let (hh, mm) = (secs / 3600, secs / 60 % 60);
    let h = crate::rng::hash(&[s.config.seed, 0x0b1, bucket]) as u32;
    format!(
        "AWSLogs/{acct}/vpcflowlogs/{region}/{y:04}/{m:02}/{d:02}/{acct}_vpcflowlogs_{region}_{fl}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{h:08x}.{ext}",
        acct = s.account_id,
        region = s.region,
        fl = s.flow_log_id,
    )
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io { path: path.to_path_buf(), source }
}

/// Renders the text object (header line first) of a bucket.
pub fn render_text(s: &Scenario, records: &[Rec], out: &mut Vec<u8>) -> std::io::Result<()> {
    let ctx = RenderCtx::new(s);
    render_text_with(&ctx, s.config.format, records, out)
}

fn render_text_with(ctx: &RenderCtx, format: Format, records: &[Rec], out: &mut Vec<u8>) -> std::io::Result<()> {
    let (fields, version) = match format {
        Format::V2 => (DEFAULT_V2, 2),
        Format::V5 | Format::Parquet => (V5_FIELDS, 5),
    };
    write_header(out, fields)?;
    for r in records {
        write_record(out, fields, &ctx.flow(r, version), &ctx.interner)?;
    }
    Ok(())
}

fn parquet_batch(ctx: &RenderCtx, records: &[Rec]) -> Result<RecordBatch, String> {
    let schema = parquet_schema();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let flows: Vec<FlowRecord> = records.iter().map(|r| ctx.flow(r, 5)).collect();
    let sym = |s: Sym| ctx.interner.display(s).to_string();
    let addr = |a: Option<Addr>| a.map_or_else(|| "-".to_string(), |a| a.to_string());
    for field in parquet_fields() {
        let column: ArrayRef = match parquet_type(field) {
            DataType::Int32 => {
                let mut b = Int32Builder::with_capacity(flows.len());
                for f in &flows {
                    let v: Option<i32> = match field {
                        Field::Version => f.version.map(i32::from),
                        Field::SrcPort => f.srcport.map(i32::from),
                        Field::DstPort => f.dstport.map(i32::from),
                        Field::Protocol => f.protocol.map(i32::from),
                        Field::TcpFlags => f.tcp_flags.map(i32::from),
                        _ => f.traffic_path.map(i32::from),
                    };
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(flows.len());
                for f in &flows {
                    let v = match field {
                        Field::Packets => f.packets,
                        Field::Bytes => f.bytes,
                        Field::Start => f.start,
                        _ => f.end,
                    };
                    b.append_option(v.and_then(|v| i64::try_from(v).ok()));
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::with_capacity(flows.len(), flows.len() * 12);
                for f in &flows {
                    let v: String = match field {
                        Field::AccountId => sym(f.account_id),
                        Field::InterfaceId => sym(f.interface_id),
                        Field::SrcAddr => addr(f.srcaddr),
                        Field::DstAddr => addr(f.dstaddr),
                        Field::Action => f.action.map_or("-", Action::as_str).to_string(),
                        Field::LogStatus => f.log_status.map_or("-", LogStatus::as_str).to_string(),
                        Field::VpcId => sym(f.vpc_id),
                        Field::SubnetId => sym(f.subnet_id),
                        Field::InstanceId => sym(f.instance_id),
                        Field::Type => f.traffic_type.map_or("-", TrafficType::as_str).to_string(),
                        Field::PktSrcAddr => addr(f.pkt_srcaddr),
                        Field::PktDstAddr => addr(f.pkt_dstaddr),
                        Field::Region => sym(f.region),
                        Field::AzId => sym(f.az_id),
                        Field::PktSrcAwsService => sym(f.pkt_src_aws_service),
                        Field::PktDstAwsService => sym(f.pkt_dst_aws_service),
                        _ => f.flow_direction.map_or("-", FlowDirection::as_str).to_string(),
                    };
                    b.append_value(v);
                }
                Arc::new(b.finish())
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

fn parquet_type(field: Field) -> DataType {
    match field {
        Field::Version | Field::SrcPort | Field::DstPort | Field::Protocol | Field::TcpFlags | Field::TrafficPath => {
            DataType::Int32
        }
        Field::Packets | Field::Bytes | Field::Start | Field::End => DataType::Int64,
        _ => DataType::Utf8,
    }
}

/// The AWS Parquet schema: underscore column names, INT32/INT64 numbers, strings otherwise.
pub fn parquet_schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        parquet_fields()
            .map(|f| ArrowField::new(f.name().replace('-', "_"), parquet_type(f), true))
            .collect::<Vec<_>>(),
    ))
}

fn write_bucket(
    ctx: &RenderCtx,
    s: &Scenario,
    root: &Path,
    bucket: &Bucket,
    buf: &mut Vec<u8>,
) -> Result<SplitStats, SimError> {
    let format = s.config.format;
    let ext = if format == Format::Parquet { "log.parquet" } else { "log.gz" };
    let path = root.join(object_key(s, bucket.start, ext));
    let file = File::create(&path).map_err(io_err(&path))?;
    let mut stats = SplitStats {
        objects: 1,
        records: bucket.records.len() as u64,
        nodata: bucket.records.iter().filter(|r| r.status == LogStatus::NoData).count() as u64,
        skipdata: bucket.records.iter().filter(|r| r.status == LogStatus::SkipData).count() as u64,
        ..SplitStats::default()
    };
    if format == Format::Parquet {
        let batch =
            parquet_batch(ctx, &bucket.records).map_err(|message| SimError::Parquet { path: path.clone(), message })?;
        let props = WriterProperties::builder()
            .set_compression(PqCompression::GZIP(GzipLevel::try_new(1).unwrap_or_default()))
            .set_created_by("flowhound-sim".into())
            .build();
        let pq = |e: parquet::errors::ParquetError| SimError::Parquet { path: path.clone(), message: e.to_string() };
        let mut writer = ArrowWriter::try_new(BufWriter::new(file), batch.schema(), Some(props)).map_err(pq)?;
        writer.write(&batch).map_err(pq)?;
        writer.close().map_err(pq)?;
    } else {
        buf.clear();
        render_text_with(ctx, format, &bucket.records, buf).map_err(io_err(&path))?;
        let mut gz = GzEncoder::new(BufWriter::with_capacity(1 << 20, file), Compression::fast());
        gz.write_all(buf).map_err(io_err(&path))?;
        gz.finish().map_err(io_err(&path))?.flush().map_err(io_err(&path))?;
    }
    stats.bytes = fs::metadata(&path).map_err(io_err(&path))?.len();
    Ok(stats)
}

fn write_split(s: &Scenario, ctx: &RenderCtx, root: &Path, from: u64, to: u64) -> Result<SplitStats, SimError> {
    let mut day = from - from % DAY;
    while day < to {
        let dir = root.join(object_key(s, day, "x"));
        let dir = dir.parent().unwrap_or(root);
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        day += DAY;
    }
    let len = chunk_secs(s);
    let chunks: Vec<u64> = (0..(to - from) / len).map(|k| from + k * len).collect();
    let parts: Vec<Result<SplitStats, SimError>> = chunks
        .par_iter()
        .map_init(Vec::new, |buf, &chunk| {
            let mut stats = SplitStats::default();
            for bucket in generate_chunk(s, chunk) {
                stats.add(&write_bucket(ctx, s, root, &bucket, buf)?);
            }
            Ok(stats)
        })
        .collect();
    let mut total = SplitStats { start: from, end: to, host_days: s.host_days(from, to), ..SplitStats::default() };
    for part in parts {
        total.add(&part?);
    }
    Ok(total)
}

/// Makes `dir` ready: an earlier scenario there (recognised by its scenario.json) is
/// replaced; anything else in the way is an error rather than silently mixed in.
fn prepare_dir(dir: &Path) -> Result<(), SimError> {
    let ours = dir.join("scenario.json").is_file();
    for name in ["train", "test"] {
        let sub = dir.join(name);
        if sub.exists() {
            if !ours {
                return Err(SimError::Config(format!(
                    "{} exists but {} holds no scenario.json; refusing to mix a scenario into it",
                    sub.display(),
                    dir.display()
                )));
            }
            fs::remove_dir_all(&sub).map_err(io_err(&sub))?;
        }
    }
    fs::create_dir_all(dir).map_err(io_err(dir))
}

fn ipstr(v: u32) -> String {
    Ipv4Addr::from(v).to_string()
}

/// scenario.json: hosts, parameters, host-days, look-alikes.
fn scenario_json(s: &Scenario, summary: &WriteSummary) -> serde_json::Value {
    let hosts: Vec<serde_json::Value> = s
        .enis
        .iter()
        .filter_map(|e| {
            let role = e.role()?;
            let sub = &s.subnets[e.subnet];
            Some(json!({
                "name": e.name,
                "ip": ipstr(e.ip),
                "role": role.as_str(),
                "subnet": sub.name,
                "subnet_id": sub.id,
                "cidr": sub.cidr(),
                "az_id": sub.az_id,
                "instance_id": e.instance_id,
                "interface_id": e.interface_id,
                "public_ip": e.public_ip.map(ipstr),
                "first_seen": e.first_seen,
                "first_seen_rfc3339": format_rfc3339(e.first_seen),
            }))
        })
        .collect();
    let infrastructure: Vec<serde_json::Value> = s
        .enis
        .iter()
        .filter(|e| e.role().is_none())
        .map(|e| {
            let kind = match e.kind {
                EniKind::NatGateway => "nat_gateway",
                EniKind::LoadBalancer => "load_balancer",
                EniKind::Lambda => "lambda",
                EniKind::Host(_) => "host",
            };
            json!({
                "name": e.name,
                "kind": kind,
                "ip": ipstr(e.ip),
                "public_ip": e.public_ip.map(ipstr),
                "subnet_id": s.subnets[e.subnet].id,
                "interface_id": e.interface_id,
                "instance_id": null,
            })
        })
        .collect();
    let subnets: Vec<serde_json::Value> = s
        .subnets
        .iter()
        .map(
            |sub| json!({"name": sub.name, "id": sub.id, "cidr": sub.cidr(), "az_id": sub.az_id, "public": sub.public}),
        )
        .collect();
    let external: &[ExternalPeer] = &s.external;
    let lookalikes: &[LookAlike] = &s.lookalikes;
    let c = &s.config;
    json!({
        "schema_version": 1,
        "generator": format!("flowhound-sim {}", env!("CARGO_PKG_VERSION")),
        "parameters": {
            "seed": c.seed,
            "hosts": c.hosts,
            "train_days": c.train_days,
            "test_days": c.test_days,
            "aggregation": c.aggregation,
            "format": c.format.as_str(),
            "account_id": s.account_id,
            "region": s.region,
            "vpc_id": s.vpc_id,
            "flow_log_id": s.flow_log_id,
            "vpc_cidr": "10.20.0.0/16",
        },
        "train": split_json(&summary.train),
        "test": split_json(&summary.test),
        "subnets": subnets,
        "hosts": hosts,
        "infrastructure": infrastructure,
        "external_peers": external,
        "lookalikes": lookalikes,
        "attacks": s.labels.len(),
    })
}

fn split_json(st: &SplitStats) -> serde_json::Value {
    json!({
        "start": st.start,
        "end": st.end,
        "start_rfc3339": format_rfc3339(st.start),
        "end_rfc3339": format_rfc3339(st.end),
        "host_days": (st.host_days * 1000.0).round() / 1000.0,
        "objects": st.objects,
        "records": st.records,
        "nodata": st.nodata,
        "skipdata": st.skipdata,
        "compressed_bytes": st.bytes,
    })
}

/// Writes the whole scenario under `dir`.
pub fn write_scenario(s: &Scenario, dir: &Path) -> Result<WriteSummary, SimError> {
    prepare_dir(dir)?;
    let ctx = RenderCtx::new(s);
    let train_root: PathBuf = dir.join("train");
    let test_root: PathBuf = dir.join("test");
    tracing::info!(from = %format_rfc3339(s.train_start), to = %format_rfc3339(s.test_start), "writing training period");
    let train = write_split(s, &ctx, &train_root, s.train_start, s.test_start)?;
    tracing::info!(from = %format_rfc3339(s.test_start), to = %format_rfc3339(s.test_end), "writing test period");
    let test = write_split(s, &ctx, &test_root, s.test_start, s.test_end)?;
    let summary = WriteSummary {
        train,
        test,
        hosts: s.enis.iter().filter(|e| e.role().is_some()).count(),
        labels: s.labels.len(),
        lookalikes: s.lookalikes.len(),
    };
    let labels_path = dir.join("labels.jsonl");
    let mut labels = Vec::new();
    for l in &s.labels {
        serde_json::to_writer(&mut labels, l)?;
        labels.push(b'\n');
    }
    fs::write(&labels_path, labels).map_err(io_err(&labels_path))?;
    let scenario_path = dir.join("scenario.json");
    let text = serde_json::to_vec_pretty(&scenario_json(s, &summary))?;
    fs::write(&scenario_path, text).map_err(io_err(&scenario_path))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use flowhound_flowlog::{KeyInfo, ObjectRef, ReadOptions, read_object};

    use super::*;
    use crate::config::SimConfig;
    use crate::scenario::build;

    fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.insert(path.strip_prefix(root).unwrap().to_path_buf(), fs::read(&path).unwrap());
                }
            }
        }
        out
    }

    fn config(seed: u64, aggregation: u32, format: Format) -> SimConfig {
        SimConfig { seed, hosts: 12, train_days: 1, test_days: 1, aggregation, format }
    }

    #[test]
    fn same_seed_writes_the_same_bytes() {
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        for (dir, seed) in dirs.iter().zip([5, 5, 6]) {
            let s = build(&config(seed, 600, Format::V5)).unwrap();
            write_scenario(&s, dir.path()).unwrap();
        }
        let (a, b, c) = (files(dirs[0].path()), files(dirs[1].path()), files(dirs[2].path()));
        assert_eq!(a.len(), 2 * 288 + 2);
        assert!(a == b, "same seed, different output");
        assert!(a.get(Path::new("labels.jsonl")) != c.get(Path::new("labels.jsonl")));
        // Writing again into the same directory replaces the earlier scenario.
        let s = build(&config(5, 600, Format::V5)).unwrap();
        write_scenario(&s, dirs[2].path()).unwrap();
        assert!(files(dirs[2].path()) == a);
    }

    #[test]
    fn text_objects_follow_the_aws_layout_and_read_back() {
        for (format, fields) in [(Format::V5, V5_FIELDS), (Format::V2, DEFAULT_V2)] {
            let dir = tempfile::tempdir().unwrap();
            let s = build(&config(9, 60, format)).unwrap();
            let summary = write_scenario(&s, dir.path()).unwrap();
            assert_eq!((summary.train.objects, summary.test.objects), (288, 288));
            let all = files(&dir.path().join("test"));
            let mut records = 0;
            let mut previous = None;
            for (path, bytes) in &all {
                let key = KeyInfo::parse(&path.to_string_lossy()).unwrap();
                assert_eq!(key.account_id, s.account_id);
                assert_eq!(key.flow_log_id.as_deref(), Some(s.flow_log_id.as_str()));
                let t = key.file_time.unwrap();
                assert_eq!(t % 300, 0);
                if let Some(p) = previous {
                    assert_eq!(t, p + 300, "one object per 5 minutes");
                }
                previous = Some(t);
                let mut text = String::new();
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text).unwrap();
                let header: Vec<&str> = text.lines().next().unwrap().split(' ').collect();
                assert_eq!(header, fields.iter().map(|f| f.name()).collect::<Vec<_>>());
                let full = dir.path().join("test").join(path);
                let mut ends = Vec::new();
                let report = read_object(
                    &ObjectRef::local(full, None),
                    None,
                    &ReadOptions::default(),
                    &mut |r: &FlowRecord, _: &Interner| {
                        ends.push(r.end.unwrap());
                    },
                );
                assert_eq!(report.malformed, 0);
                assert!(ends.iter().all(|e| (t..t + 300).contains(e)), "records in the object of their end time");
                records += report.records;
            }
            assert_eq!(records, summary.test.records);
            assert!(summary.test.nodata > 0);
            let scenario: serde_json::Value =
                serde_json::from_slice(&fs::read(dir.path().join("scenario.json")).unwrap()).unwrap();
            assert_eq!(scenario["test"]["records"], summary.test.records);
            assert_eq!(scenario["hosts"].as_array().unwrap().len(), 13);
            assert!(scenario["lookalikes"].as_array().unwrap().len() >= 15);
            let info = crate::eval::ScenarioInfo::from_json(&serde_json::to_string(&scenario).unwrap()).unwrap();
            assert!(info.test_host_days > 12.0 && info.test_host_days < 13.0, "{}", info.test_host_days);
            let labels =
                crate::eval::parse_labels(&fs::read_to_string(dir.path().join("labels.jsonl")).unwrap()).unwrap();
            assert_eq!(labels.len(), s.labels.len());
        }
    }

    #[test]
    fn parquet_objects_use_the_aws_schema() {
        let dir = tempfile::tempdir().unwrap();
        let s = build(&config(2, 600, Format::Parquet)).unwrap();
        let summary = write_scenario(&s, dir.path()).unwrap();
        let all = files(&dir.path().join("train"));
        let (path, _) = all.iter().next().unwrap();
        assert!(path.to_string_lossy().ends_with(".log.parquet"));
        let full = dir.path().join("train").join(path);
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(File::open(&full).unwrap()).unwrap();
        let schema = reader.schema();
        assert_eq!(schema.field_with_name("srcport").unwrap().data_type(), &DataType::Int32);
        assert_eq!(schema.field_with_name("bytes").unwrap().data_type(), &DataType::Int64);
        assert_eq!(schema.field_with_name("pkt_dst_aws_service").unwrap().data_type(), &DataType::Utf8);
        assert_eq!(schema.field_with_name("traffic_path").unwrap().data_type(), &DataType::Int32);
        let mut total = 0;
        for p in all.keys() {
            let report = read_object(
                &ObjectRef::local(dir.path().join("train").join(p), None),
                None,
                &ReadOptions::default(),
                &mut flowhound_flowlog::NullSink,
            );
            assert_eq!(report.malformed, 0, "{:?}", report.error);
            total += report.records;
        }
        assert_eq!(total, summary.train.records);
    }

    #[test]
    fn refuses_to_mix_into_a_foreign_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("train")).unwrap();
        let s = build(&config(1, 600, Format::V2)).unwrap();
        assert!(matches!(write_scenario(&s, dir.path()), Err(SimError::Config(_))));
    }
}

//! Parquet in the AWS delivery schema: underscore column names, INT32 for version, ports,
//! protocol, tcp_flags and traffic_path, INT64 for packets, bytes, start and end,
//! strings otherwise; nulls and `-` both mean missing.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use flowhound_flowlog::{
    Action, FlowRecord, Interner, LogStatus, ObjectError, ObjectFormat, ObjectRef, ReadOptions, read_object,
    read_stream,
};
use parquet::arrow::ArrowWriter;

fn batch() -> RecordBatch {
    let s = |values: &[Option<&str>]| Arc::new(StringArray::from(values.to_vec())) as ArrayRef;
    let i32s = |values: &[Option<i32>]| Arc::new(Int32Array::from(values.to_vec())) as ArrayRef;
    let i64s = |values: &[Option<i64>]| Arc::new(Int64Array::from(values.to_vec())) as ArrayRef;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("version", i32s(&[Some(5), Some(5), Some(5), Some(5)])),
        ("account_id", s(&[Some("123456789012"), Some("123456789012"), Some("123456789012"), Some("1")])),
        ("interface_id", s(&[Some("eni-0a"), Some("eni-0b"), Some("eni-0a"), Some("eni-0c")])),
        ("srcaddr", s(&[Some("10.0.0.1"), None, Some("2001:db8::5"), Some("10.0.0.9")])),
        ("dstaddr", s(&[Some("198.51.100.7"), Some("-"), Some("2001:db8::6"), Some("10.0.0.10")])),
        ("srcport", i32s(&[Some(49152), None, Some(22), Some(1)])),
        ("dstport", i32s(&[Some(443), None, Some(50000), Some(2)])),
        ("protocol", i32s(&[Some(6), None, Some(6), Some(6)])),
        ("packets", i64s(&[Some(10), None, Some(3), Some(1)])),
        ("bytes", i64s(&[Some(8_000_000_000), None, Some(180), Some(-5)])),
        ("start", i64s(&[Some(1_795_849_200), Some(1_795_849_200), Some(1_795_849_230), Some(1)])),
        ("end", i64s(&[Some(1_795_849_260), Some(1_795_849_260), Some(1_795_849_290), Some(2)])),
        ("action", s(&[Some("ACCEPT"), None, Some("REJECT"), Some("ACCEPT")])),
        ("log_status", s(&[Some("OK"), Some("NODATA"), Some("OK"), Some("OK")])),
        ("vpc_id", s(&[Some("vpc-1"), None, Some("vpc-1"), Some("vpc-1")])),
        ("tcp_flags", i32s(&[Some(19), None, Some(2), None])),
        ("traffic_path", i32s(&[Some(8), None, None, None])),
        ("flow_direction", s(&[Some("egress"), Some("-"), Some("ingress"), None])),
        ("pkt_dst_aws_service", s(&[Some("S3"), None, Some("-"), None])),
        ("tgw_id", s(&[Some("tgw-1"), None, None, None])),
    ];
    let schema = ArrowSchema::new(
        columns.iter().map(|(name, array)| ArrowField::new(*name, array.data_type().clone(), true)).collect::<Vec<_>>(),
    );
    assert_eq!(schema.field_with_name("srcport").unwrap().data_type(), &DataType::Int32);
    RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
}

fn parquet_bytes() -> Vec<u8> {
    let batch = batch();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

#[test]
fn aws_parquet_schema_is_read_by_column_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("123456789012_vpcflowlogs_us-east-1_fl-1_20261128T0700Z_ab.log.parquet");
    std::fs::write(&path, parquet_bytes()).unwrap();
    let mut records: Vec<(FlowRecord, String, String)> = Vec::new();
    let mut sink = |r: &FlowRecord, i: &Interner| {
        records.push((*r, i.display(r.interface_id).to_string(), i.display(r.pkt_dst_aws_service).to_string()))
    };
    let report = read_object(&ObjectRef::local(path, None), None, &ReadOptions::default(), &mut sink);
    assert_eq!(report.format, ObjectFormat::Parquet);
    assert_eq!(report.error, None);
    // The last row has a negative byte count: malformed, reported by row number.
    assert_eq!((report.records, report.malformed, report.nodata), (3, 1, 1));
    assert_eq!(report.malformed_samples[0].line, 4);
    assert!(report.malformed_samples[0].reason.contains("bytes"), "{}", report.malformed_samples[0].reason);
    assert!(report.fields.contains("log-status") && report.fields.contains("tgw-id"));
    assert!(report.unknown_fields.contains("tgw-id"));
    assert_eq!(report.versions.iter().copied().collect::<Vec<_>>(), vec![5]);
    assert_eq!(report.interfaces.len(), 2);
    assert_eq!(report.placeholders["eni-0b"].nodata, 1);

    let (r, eni, service) = &records[0];
    assert_eq!(eni, "eni-0a");
    assert_eq!(service, "S3");
    assert_eq!(r.version, Some(5));
    assert_eq!(r.srcaddr.unwrap().to_string(), "10.0.0.1");
    assert_eq!((r.srcport, r.dstport, r.protocol), (Some(49152), Some(443), Some(6)));
    assert_eq!((r.packets, r.bytes), (Some(10), Some(8_000_000_000)));
    assert_eq!((r.start, r.end), (Some(1_795_849_200), Some(1_795_849_260)));
    assert_eq!((r.action, r.log_status), (Some(Action::Accept), Some(LogStatus::Ok)));
    assert_eq!((r.tcp_flags, r.traffic_path), (Some(19), Some(8)));

    let (nodata, _, service) = &records[1];
    assert_eq!(nodata.log_status, Some(LogStatus::NoData));
    assert_eq!((nodata.srcaddr, nodata.dstaddr, nodata.srcport, nodata.action), (None, None, None, None));
    assert_eq!(nodata.flow_direction, None);
    assert_eq!(service, "-");

    let (v6, _, service) = &records[2];
    assert_eq!(v6.dstaddr.unwrap().to_string(), "2001:db8::6");
    assert_eq!(v6.action, Some(Action::Reject));
    assert_eq!(service, "-", "a '-' string is missing, like null");
}

#[test]
fn parquet_from_a_stream_and_broken_parquet() {
    let bytes = parquet_bytes();
    let report = read_stream("stream.parquet", &bytes[..], &ReadOptions::default(), &mut flowhound_flowlog::NullSink);
    assert_eq!((report.format, report.records, report.error.clone()), (ObjectFormat::Parquet, 3, None));
    // Over the size limit: refused before decoding.
    let opts = ReadOptions { max_decompressed_bytes: 100, ..ReadOptions::default() };
    let report = read_stream("big.parquet", &bytes[..], &opts, &mut flowhound_flowlog::NullSink);
    assert!(matches!(report.error, Some(ObjectError::TooLarge { .. })), "{:?}", report.error);
    // Cut in half: the footer is gone.
    let report = read_stream(
        "cut.parquet",
        &bytes[..bytes.len() / 2],
        &ReadOptions::default(),
        &mut flowhound_flowlog::NullSink,
    );
    assert!(matches!(report.error, Some(ObjectError::Parquet { .. })), "{:?}", report.error);
    assert_eq!(report.records, 0);
}

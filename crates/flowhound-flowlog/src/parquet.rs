//! Reading flow logs delivered as Parquet (`*.log.parquet`): columns are matched by
//! name (`interface_id` or `interface-id`), never by position; numeric columns may be
//! INT32/INT64 or strings; nulls and `-` are missing values.

use arrow_array::{
    Array, ArrayRef, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use crate::accounting::Accounting;
use crate::field::Field;
use crate::intern::Interner;
use crate::options::ReadOptions;
use crate::parse::{LineError, Schema, check_plausible, set_field};
use crate::record::FlowRecord;
use crate::report::{ObjectError, ObjectFormat, ObjectReport};
use crate::sink::RecordSink;

const BATCH_ROWS: usize = 8192;

/// Reads a Parquet flow-log object. Memory is bounded by one row group's column chunks
/// plus one batch of rows.
pub fn read_parquet<C: ChunkReader + 'static, S: RecordSink + ?Sized>(
    name: &str,
    input: C,
    opts: &ReadOptions,
    sink: &mut S,
) -> ObjectReport {
    let mut acc = Accounting::new(name, ObjectFormat::Parquet, opts);
    let mut interner = Interner::new();
    acc.report.bytes_read = input.len();
    if let Err(message) = read_batches(input, opts, &mut acc, &mut interner, sink) {
        acc.report.error = Some(ObjectError::Parquet { object: name.to_string(), message });
    }
    sink.end_object(&interner);
    acc.finish(&interner)
}

fn read_batches<C: ChunkReader + 'static, S: RecordSink + ?Sized>(
    input: C,
    _opts: &ReadOptions,
    acc: &mut Accounting<'_>,
    interner: &mut Interner,
    sink: &mut S,
) -> Result<(), String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(input).map_err(|e| e.to_string())?;
    let arrow_schema = builder.schema().clone();
    let mut columns: Vec<(usize, Option<Field>, String)> = Vec::new();
    for (i, f) in arrow_schema.fields().iter().enumerate() {
        columns.push((i, Field::from_name(f.name().as_bytes()), f.name().replace('_', "-")));
    }
    let known: Vec<Field> = columns.iter().filter_map(|c| c.1).collect();
    let mut schema_names = Schema::from_fields(&known);
    // Unknown columns are reported as fields seen, like unknown header names.
    let unknown: Vec<&str> = columns.iter().filter(|c| c.1.is_none()).map(|c| c.2.as_str()).collect();
    if !unknown.is_empty() {
        let mut header = known.iter().map(|f| f.name()).collect::<Vec<_>>();
        header.extend(unknown.iter().copied());
        if let Ok(s) = Schema::from_header(header.join(" ").as_bytes()) {
            schema_names = s;
        }
    }
    acc.note_schema(&schema_names);
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(|e| e.to_string())?;
    let mut row: u64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        read_batch(&batch, &columns, acc, interner, sink, &mut row);
    }
    Ok(())
}

fn read_batch<S: RecordSink + ?Sized>(
    batch: &RecordBatch,
    columns: &[(usize, Option<Field>, String)],
    acc: &mut Accounting<'_>,
    interner: &mut Interner,
    sink: &mut S,
    row_no: &mut u64,
) {
    for row in 0..batch.num_rows() {
        *row_no += 1;
        let mut record = FlowRecord::default();
        let mut failed = None;
        for (index, field, _) in columns {
            let Some(field) = field else { continue };
            if let Err(err) = set_cell(&mut record, interner, *field, batch.column(*index), row) {
                failed = Some(err);
                break;
            }
        }
        match failed.map_or_else(|| check_plausible(&record), Err) {
            Err(err) => acc.malformed(*row_no, &err),
            Ok(()) => {
                if acc.record(&record) {
                    sink.record(&record, interner);
                }
            }
        }
    }
}

fn set_cell(
    record: &mut FlowRecord,
    interner: &mut Interner,
    field: Field,
    column: &ArrayRef,
    row: usize,
) -> Result<(), LineError> {
    if column.is_null(row) {
        return Ok(());
    }
    let mut text = itoa_buffer();
    let token: &[u8] = match column.data_type() {
        DataType::Utf8 => downcast::<StringArray>(column).value(row).as_bytes(),
        DataType::LargeUtf8 => downcast::<LargeStringArray>(column).value(row).as_bytes(),
        DataType::Utf8View => downcast::<StringViewArray>(column).value(row).as_bytes(),
        DataType::Int8 => signed(&mut text, i64::from(downcast::<Int8Array>(column).value(row))),
        DataType::Int16 => signed(&mut text, i64::from(downcast::<Int16Array>(column).value(row))),
        DataType::Int32 => signed(&mut text, i64::from(downcast::<Int32Array>(column).value(row))),
        DataType::Int64 => signed(&mut text, downcast::<Int64Array>(column).value(row)),
        DataType::UInt8 => unsigned(&mut text, u64::from(downcast::<UInt8Array>(column).value(row))),
        DataType::UInt16 => unsigned(&mut text, u64::from(downcast::<UInt16Array>(column).value(row))),
        DataType::UInt32 => unsigned(&mut text, u64::from(downcast::<UInt32Array>(column).value(row))),
        DataType::UInt64 => unsigned(&mut text, downcast::<UInt64Array>(column).value(row)),
        other => {
            return Err(LineError::BadValue { field, value: format!("unsupported Parquet type {other}") });
        }
    };
    if token.is_empty() {
        // An empty string is how some writers spell a missing value, like `-` or null.
        return Ok(());
    }
    set_field(record, interner, field, token)
}

fn downcast<T: 'static>(column: &ArrayRef) -> &T {
    // The data type was matched just before; a mismatch here is a bug in this file.
    column.as_any().downcast_ref::<T>().expect("array type matches its data type")
}

fn itoa_buffer() -> Vec<u8> {
    Vec::with_capacity(24)
}

fn signed(buf: &mut Vec<u8>, value: i64) -> &[u8] {
    buf.clear();
    // Negative numbers are not valid flow-log values; keep the sign so the parser rejects them.
    buf.extend_from_slice(value.to_string().as_bytes());
    buf
}

fn unsigned(buf: &mut Vec<u8>, value: u64) -> &[u8] {
    buf.clear();
    buf.extend_from_slice(value.to_string().as_bytes());
    buf
}

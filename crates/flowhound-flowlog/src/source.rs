//! Where objects come from: local files, directory trees, stdin, and (through
//! [`RemoteOpener`]) remote stores such as S3, plus the parallel scan over them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::keylayout::KeyInfo;
use crate::reader::{ReadOptions, RecordSink, read_stream_limited};
use crate::report::{ObjectError, ObjectReport};

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Stdin,
    /// A remote object (e.g. `s3://bucket/key`), opened by a [`RemoteOpener`].
    Remote {
        url: String,
    },
}

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The name used in reports: the path, `-`, or the URL.
    pub name: String,
    pub location: Location,
    /// What the AWS key layout says, when the name follows it.
    pub key: Option<KeyInfo>,
    pub size: Option<u64>,
}

impl ObjectRef {
    pub fn local(path: PathBuf, size: Option<u64>) -> ObjectRef {
        let name = path.display().to_string();
        ObjectRef { key: KeyInfo::parse(&name), name, location: Location::Local(path), size }
    }

    pub fn remote(url: String, size: Option<u64>) -> ObjectRef {
        ObjectRef { key: KeyInfo::parse(&url), name: url.clone(), location: Location::Remote { url }, size }
    }

    pub fn stdin() -> ObjectRef {
        ObjectRef { name: "-".into(), location: Location::Stdin, key: None, size: None }
    }

    /// False when the key layout proves no record can start within `[from, to)`.
    pub fn may_overlap(&self, from: Option<u64>, to: Option<u64>) -> bool {
        self.key.as_ref().is_none_or(|k| k.may_overlap(from, to))
    }
}

/// Opens remote objects for reading; implemented outside this crate (the AWS adapter).
pub trait RemoteOpener: Sync {
    fn open(&self, object: &ObjectRef) -> io::Result<Box<dyn Read + Send>>;
}

/// Errors finding objects.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}: not a flow-log file (expected .log.gz, .gz, .log, .txt or .parquet)")]
    NotFlowLog(String),
}

/// True for names that hold flow logs.
pub fn is_flow_log_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".gz", ".log", ".txt", ".parquet"].iter().any(|ext| lower.ends_with(ext))
}

/// Expands a local SOURCE argument: a file, a directory (every flow-log file below it,
/// sorted by path so runs are deterministic), or `-` for stdin.
pub fn discover_local(arg: &str) -> Result<Vec<ObjectRef>, SourceError> {
    if arg == "-" {
        return Ok(vec![ObjectRef::stdin()]);
    }
    let path = Path::new(arg);
    let meta = std::fs::metadata(path).map_err(|source| SourceError::Io { path: arg.to_string(), source })?;
    if meta.is_file() {
        // An explicitly named file is read whatever its name; sniffing decides the format.
        return Ok(vec![ObjectRef::local(path.to_path_buf(), Some(meta.len()))]);
    }
    let mut found = Vec::new();
    walk(path, &mut found)?;
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn walk(dir: &Path, out: &mut Vec<ObjectRef>) -> Result<(), SourceError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| SourceError::Io { path: dir.display().to_string(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| SourceError::Io { path: dir.display().to_string(), source })?;
        let path = entry.path();
        let file_type =
            entry.file_type().map_err(|source| SourceError::Io { path: path.display().to_string(), source })?;
        // Directory symlinks are not followed (no cycles); file symlinks are.
        if file_type.is_dir() {
            walk(&path, out)?;
        } else {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if meta.is_file() && !name.starts_with('.') && is_flow_log_name(&name) {
                out.push(ObjectRef::local(path, Some(meta.len())));
            }
        }
    }
    Ok(())
}

/// Reads one object into `sink`.
pub fn read_object<S: RecordSink + ?Sized>(
    object: &ObjectRef,
    remote: Option<&dyn RemoteOpener>,
    opts: &ReadOptions,
    sink: &mut S,
) -> ObjectReport {
    // An object known to be over the in-memory limit is streamed from its first byte
    // rather than buffered up to the limit first.
    let in_memory_limit = match object.size {
        Some(size) if size > opts.in_memory_gzip_bytes => 0,
        _ => opts.in_memory_gzip_bytes,
    };
    let failed = |message: String| ObjectReport {
        name: object.name.clone(),
        error: Some(ObjectError::Io { object: object.name.clone(), message }),
        ..ObjectReport::default()
    };
    match &object.location {
        Location::Local(path) => match File::open(path) {
            Ok(mut file) => {
                let mut magic = [0u8; 4];
                let is_parquet = file.read_exact(&mut magic).is_ok() && &magic == b"PAR1";
                if is_parquet {
                    // Parquet needs random access: read the file in place rather than buffering it.
                    return crate::parquet::read_parquet(&object.name, file, opts, sink);
                }
                match file.seek(SeekFrom::Start(0)) {
                    Ok(_) => read_stream_limited(&object.name, file, opts, in_memory_limit, sink),
                    Err(e) => failed(e.to_string()),
                }
            }
            Err(e) => failed(e.to_string()),
        },
        Location::Stdin => read_stream_limited(&object.name, io::stdin().lock(), opts, 0, sink),
        Location::Remote { .. } => match remote {
            Some(opener) => match opener.open(object) {
                Ok(stream) => read_stream_limited(&object.name, stream, opts, in_memory_limit, sink),
                Err(e) => failed(e.to_string()),
            },
            None => failed("no opener for remote objects was configured".into()),
        },
    }
}

/// A partial result built from some objects that merges exactly with another one.
/// `merge` must be associative and commutative, so the scan's result does not
/// depend on how the objects were split across threads.
pub trait Partial: RecordSink + Send {
    fn merge(&mut self, other: Self);
}

impl Partial for crate::reader::NullSink {
    fn merge(&mut self, _other: Self) {}
}

/// Reads every object in parallel (on rayon's pool), feeding each to a partial from
/// `make`, and merges the partials. Reports come back in the order of `objects`.
///
/// Each worker thread keeps one partial for the whole call and takes the next unread
/// object until none is left: a partial per split of the work (rayon's `fold`) would mean
/// several partials per thread, each growing its tables from empty and then merged (and
/// rehashed) into another, which cost a quarter of `extract`'s page faults on one thread.
pub fn scan<P, F>(
    objects: &[ObjectRef],
    remote: Option<&dyn RemoteOpener>,
    opts: &ReadOptions,
    make: F,
    on_object: &(dyn Fn(&ObjectReport) + Sync),
) -> (Vec<ObjectReport>, P)
where
    P: Partial,
    F: Fn() -> P + Sync,
{
    let next = AtomicUsize::new(0);
    let per_thread = rayon::broadcast(|_| {
        let mut reports = Vec::new();
        let mut partial: Option<P> = None;
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(object) = objects.get(index) else { break };
            // Made on the first object only: a thread that finds no work makes no partial.
            let partial = partial.get_or_insert_with(&make);
            let report = read_object(object, remote, opts, partial);
            on_object(&report);
            reports.push((index, report));
        }
        (reports, partial)
    });
    let mut reports = Vec::with_capacity(objects.len());
    let mut merged: Option<P> = None;
    for (thread_reports, partial) in per_thread {
        reports.extend(thread_reports);
        match (&mut merged, partial) {
            (Some(merged), Some(partial)) => merged.merge(partial),
            (None, partial) => merged = partial,
            (Some(_), None) => {}
        }
    }
    reports.sort_by_key(|(index, _)| *index);
    (reports.into_iter().map(|(_, r)| r).collect(), merged.unwrap_or_else(make))
}

//! Where objects come from: local files, directory trees, stdin, and (through
//! [`RemoteOpener`]) remote stores such as S3, plus the parallel scan over them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::keylayout::KeyInfo;
use crate::options::ReadOptions;
use crate::reader::read_stream_limited;
use crate::report::{ObjectError, ObjectReport};
use crate::sink::RecordSink;

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
    let mut visited = Vec::new();
    walk(path, &mut visited, &mut found)?;
    found.sort_by(|a, b| a.name.cmp(&b.name));
    // A file reached through two links is one object: read it once, under its first name.
    let mut seen = rustc_hash::FxHashSet::default();
    found.retain(|object| match &object.location {
        Location::Local(path) => seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())),
        _ => true,
    });
    Ok(found)
}

/// Collects the flow-log files under `dir`, following symlinks to directories as well as
/// to files. `visited` holds the canonical path of every directory on the way down, so a
/// link back to one of them (a cycle) is skipped with a warning instead of looping.
fn walk(dir: &Path, visited: &mut Vec<PathBuf>, out: &mut Vec<ObjectRef>) -> Result<(), SourceError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SourceError::Io { path, source }
    };
    let canonical = std::fs::canonicalize(dir).map_err(io(dir))?;
    if visited.contains(&canonical) {
        tracing::warn!(dir = %dir.display(), target = %canonical.display(), "symlink cycle: directory already being read, skipped");
        return Ok(());
    }
    visited.push(canonical);
    let entries = std::fs::read_dir(dir).map_err(io(dir))?;
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Follows symlinks: a dangling one is reported and skipped, not an error for the run.
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "unreadable entry skipped");
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, visited, out)?;
        } else if meta.is_file() && !name.starts_with('.') && is_flow_log_name(&name) {
            out.push(ObjectRef::local(path, Some(meta.len())));
        }
    }
    visited.pop();
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

impl Partial for crate::sink::NullSink {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinked_directories_are_followed_once_and_cycles_skipped() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real/2026/11/20");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("a.log"), "x\n").unwrap();
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("b.log.gz"), "x\n").unwrap();
        // A link to a directory outside the tree, a second link into the tree, and a cycle.
        std::os::unix::fs::symlink(other.path(), root.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(root.path().join("real"), root.path().join("alias")).unwrap();
        std::os::unix::fs::symlink(root.path(), real.join("loop")).unwrap();
        std::os::unix::fs::symlink(root.path().join("missing"), root.path().join("dangling")).unwrap();
        let found = discover_local(root.path().to_str().unwrap()).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|o| match &o.location {
                Location::Local(p) => p.strip_prefix(root.path()).unwrap().display().to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(names, ["alias/2026/11/20/a.log", "linked/b.log.gz"]);
    }
}

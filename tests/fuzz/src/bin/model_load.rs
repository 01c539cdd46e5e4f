//! The model loader on arbitrary directories: the input is split at the first NUL into a
//! manifest and a payload, written as a model directory, and loaded. Never panics; only
//! a directory whose manifest vouches for its payload loads.
use flowhound_model::artifact::{BASELINE_FILE, MANIFEST_FILE, load};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    afl::fuzz!(|data: &[u8]| {
        let (manifest, payload) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (data, &[][..]),
        };
        std::fs::write(dir.path().join(MANIFEST_FILE), manifest).unwrap();
        std::fs::write(dir.path().join(BASELINE_FILE), payload).unwrap();
        let _ = load(dir.path());
    });
}

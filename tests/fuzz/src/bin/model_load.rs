//! AFL++ target: see `flowhound_fuzz::model_load`.
fn main() {
    let dir = tempfile::tempdir().unwrap();
    afl::fuzz!(|data: &[u8]| flowhound_fuzz::model_load(data, dir.path()));
}

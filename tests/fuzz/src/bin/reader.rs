//! AFL++ target: see `flowhound_fuzz::reader`.
fn main() {
    let mut gzip = flowhound_flowlog::GzipInMemory::default();
    afl::fuzz!(|data: &[u8]| flowhound_fuzz::reader(data, &mut gzip));
}

//! AFL++ target: see `flowhound_fuzz::serve_config`.
fn main() {
    afl::fuzz!(|data: &[u8]| flowhound_fuzz::serve_config(data));
}

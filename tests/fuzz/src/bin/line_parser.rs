//! AFL++ target: see `flowhound_fuzz::line_parser`.
fn main() {
    afl::fuzz!(|data: &[u8]| flowhound_fuzz::line_parser(data));
}

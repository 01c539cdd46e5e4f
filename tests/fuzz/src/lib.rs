//! Coverage-guided fuzz targets for flowhound (AFL++ through `cargo afl`). The bodies
//! live in `targets.rs`, shared with the corpus replay that `cargo test` runs.

include!("targets.rs");

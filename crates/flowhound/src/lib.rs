//! The `flowhound` command line: argument parsing, configuration, logging and the
//! commands. This is the only crate where I/O meets the pure crates; it keeps no
//! detection logic of its own.

pub mod aws;
pub mod cli;
mod compare;
mod config;
mod demo;
mod evaluate;
mod extract;
mod hunt;
mod inspect;
mod logging;
mod metrics;
mod models;
mod partial;
mod report;
mod score;
mod serve;
mod simulate;
mod sources;
#[cfg(test)]
mod test_support;
mod train;

use std::process::ExitCode;

use cli::{Cli, Command};

/// The parsed `serve` configuration file (exposed for the fuzz targets in tests/fuzz).
pub use serve::config::ServeConfig;

/// Exit code for runtime failures (docs/cli.md).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and configuration errors (docs/cli.md).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `train --gate-labels` when the gate keeps the new model unpromoted (docs/cli.md).
pub const EXIT_GATE_REFUSED: u8 = 3;

/// An error that maps to the usage/configuration exit code.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    logging::init(cli.global.log_format);
    // Worker threads get 8 MiB of stack like the main thread, not rayon's 2 MiB: the
    // parser's straight-line paths (one macro-expanded function per field order) take
    // 2.3 MB of stack in an unoptimised build, which overflowed a `cargo build` binary
    // on its first v5 object. Only address space is reserved; pages are touched on use.
    let mut pool = rayon::ThreadPoolBuilder::new().stack_size(8 << 20);
    if let Some(threads) = cli.global.threads {
        pool = pool.num_threads(threads.max(1));
    }
    // Only fails if a pool was already built, which cannot happen this early.
    let _ = pool.build_global();
    let outcome = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Extract(args) => extract::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Score(args) => score::run(&args),
        Command::Hunt(args) => hunt::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Promote(args) => models::run_promote(&args),
        Command::Merge(args) => partial::run_merge(&args),
        Command::Serve(args) => serve::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            let usage = err.downcast_ref::<UsageError>().is_some();
            tracing::error!(error = format!("{err:#}"), "command failed");
            eprintln!("error: {err:#}");
            ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

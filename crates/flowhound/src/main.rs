use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flowhound::cli::Cli::parse();
    flowhound::run(cli)
}

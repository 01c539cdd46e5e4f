use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc spent a fifth of `extract`'s time (profiled with `perf`) on the many
/// small, short-lived sets and vectors of the host-window accumulators; mimalloc's
/// per-thread free lists make the same allocations a few instructions each. It is built
/// without transparent huge pages (`no_thp`): a page fault on a huge page zeroes 2 MiB
/// and may compact memory first, which tripled `extract`'s system time on large heaps.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = flowhound::cli::Cli::parse();
    flowhound::run(cli)
}

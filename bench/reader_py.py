"""Reads the benchmark tree with polars or DuckDB and prints `records=<n> seconds=<s>`.

Usage: reader_py.py polars|duckdb THREADS DIR

Both parse every column (space-separated, header line) and aggregate a few of them, so
neither can skip the work flowhound does. Thread counts are set before the engines start.
"""

import glob
import os
import sys
import time

engine, threads, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sorted(glob.glob(os.path.join(root, "**", "*.log.gz"), recursive=True))

if engine == "polars":
    os.environ["POLARS_MAX_THREADS"] = str(threads)
    import polars as pl

    started = time.perf_counter()
    records = 0
    checksum = 0
    for path in files:
        df = pl.read_csv(path, separator=" ", has_header=True, null_values="-", infer_schema_length=10000)
        records += df.height
        checksum += int(df["bytes"].sum() or 0)
    seconds = time.perf_counter() - started
elif engine == "duckdb":
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    pattern = os.path.join(root, "**", "*.log.gz")
    records, checksum, _, _ = con.execute(
        "SELECT count(*), sum(bytes), min(start), max(\"end\") FROM read_csv(?, delim=' ', header=true, nullstr='-')",
        [pattern],
    ).fetchone()
    seconds = time.perf_counter() - started
else:
    sys.exit(f"unknown engine {engine}")

print(f"records={records} seconds={seconds:.4f} checksum={checksum}")

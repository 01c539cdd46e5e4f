"""The comparable per (host, 5-minute window) aggregation in polars or DuckDB.

Usage: extract_py.py polars|duckdb THREADS DIR   ->   prints `groups=<n> seconds=<s>`

Per (srcaddr, end - end % 300): flows, bytes, packets, distinct destinations, distinct
destination ports, REJECTs, bytes to external (non-10/8) destinations, distinct internal
destinations, largest flow. Timing covers reading the gzip text and aggregating.
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
    frames = [
        pl.read_csv(p, separator=" ", has_header=True, null_values="-", infer_schema_length=10000) for p in files
    ]
    df = pl.concat(frames).filter(pl.col("log-status") == "OK")
    internal = pl.col("dstaddr").str.starts_with("10.")
    out = df.group_by([pl.col("srcaddr"), (pl.col("end") - pl.col("end") % 300).alias("w")]).agg(
        pl.len().alias("flows"),
        pl.col("bytes").sum(),
        pl.col("packets").sum(),
        pl.col("dstaddr").n_unique().alias("dsts"),
        pl.col("dstport").n_unique().alias("ports"),
        (pl.col("action") == "REJECT").sum().alias("rejects"),
        pl.col("bytes").filter(~internal).sum().alias("bytes_external"),
        pl.col("dstaddr").filter(internal).n_unique().alias("dsts_internal"),
        pl.col("bytes").max().alias("max_bytes"),
    )
    groups = out.height
    seconds = time.perf_counter() - started
elif engine == "duckdb":
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    groups = con.execute(
        """
        SELECT count(*) FROM (
          SELECT srcaddr, "end" - "end" % 300 AS w, count(*), sum(bytes), sum(packets),
                 count(DISTINCT dstaddr), count(DISTINCT dstport), count(*) FILTER (WHERE action = 'REJECT'),
                 sum(bytes) FILTER (WHERE NOT starts_with(dstaddr, '10.')),
                 count(DISTINCT dstaddr) FILTER (WHERE starts_with(dstaddr, '10.')), max(bytes)
          FROM read_csv(?, delim=' ', header=true, nullstr='-')
          WHERE "log-status" = 'OK'
          GROUP BY ALL)
        """,
        [os.path.join(root, "**", "*.log.gz")],
    ).fetchone()[0]
    seconds = time.perf_counter() - started
else:
    sys.exit(f"unknown engine {engine}")

print(f"groups={groups} seconds={seconds:.4f}")

"""Reads the benchmark tree with polars or DuckDB and prints `records=<n> seconds=<s>`.

Usage: reader_py.py polars|duckdb|isal THREADS DIR

polars and DuckDB parse every column (space-separated, header line) and aggregate a few
of them, so neither can skip the work flowhound does. Thread counts are set before the
engines start. `isal` is decompression alone with Intel's ISA-L (python-isal), the
fastest other inflate there is, so the decompression ceiling does not rest on the gzip
backend flowhound happens to use; it counts newlines, one object per thread at a time
(ISA-L releases the GIL while it inflates).
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
elif engine == "isal":
    from concurrent.futures import ThreadPoolExecutor

    from isal import isal_zlib

    def lines(path):
        with open(path, "rb") as f:
            compressed = f.read()
        text = isal_zlib.decompress(compressed, 16 + isal_zlib.MAX_WBITS)
        return text.count(b"\n"), len(text)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        counted = list(pool.map(lines, files))
    seconds = time.perf_counter() - started
    # The header line of each object is not a record.
    records = sum(n for n, _ in counted) - len(files)
    checksum = sum(size for _, size in counted)
else:
    sys.exit(f"unknown engine {engine}")

print(f"records={records} seconds={seconds:.4f} checksum={checksum}")

#!/usr/bin/env python3
"""Cross-checks `flowhound extract` against DuckDB SQL computed independently.

Writes a small deterministic tree of gzip flow logs (version-5 custom format with
flow-direction; flows between two monitored hosts are logged on both interfaces),
runs `flowhound extract` to Parquet, reads the Parquet with pandas and polars (and
DuckDB), and compares several columns with what DuckDB SQL computes from the same
text files. Prints `N passed, M failed` and exits non-zero on any mismatch.

Usage:
    python3 tests/python/check_extract.py [--bin target/debug/flowhound] [--venv DIR]

Without a Python that has duckdb, polars, pandas and pyarrow, the script creates a
virtual environment (default target/check-extract-venv, or --venv DIR, or
$FLOWHOUND_PY_VENV) with pip and re-runs itself inside it.
"""

import ipaddress
import gzip
import os
import random
import subprocess
import sys
import tempfile

import harness

REQUIRED = ("duckdb", "polars", "pandas", "pyarrow")
ROOT = harness.ROOT



HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
    "action log-status instance-id tcp-flags pkt-srcaddr pkt-dstaddr pkt-dst-aws-service flow-direction"
)
T0 = 1_795_132_800  # 2026-11-20T00:00:00Z
WINDOW = 900
ADMIN = (22, 135, 445, 1433, 1521, 3306, 3389, 5432, 5985, 5986, 6379, 27017)


def generate(root, flows=4000, seed=7):
    """One gzip object per interface per hour; returns the number of record lines."""
    rng = random.Random(seed)
    hosts = [f"10.0.{i // 10}.{i % 10 + 1}" for i in range(24)]
    eni = {h: f"eni-{i:017x}" for i, h in enumerate(hosts)}
    inst = {h: f"i-{i:017x}" for i, h in enumerate(hosts)}
    externals = [f"198.51.100.{i}" for i in range(1, 40)] + [f"203.0.113.{i}" for i in range(1, 10)]
    ports = [22, 443, 80, 3389, 5432, 53, 8080, 445, 6379]
    objects = {}

    def emit(host, hour, line):
        objects.setdefault((host, hour), []).append(line)

    for _ in range(flows):
        src = rng.choice(hosts)
        inbound = rng.random() < 0.2
        internal_peer = rng.random() < 0.35
        peer = rng.choice(hosts) if internal_peer else rng.choice(externals)
        if peer == src:
            continue
        start = T0 + rng.randrange(0, 3 * 3600)
        end = start + rng.randrange(0, 60)
        sport, dport = rng.randrange(32768, 61000), rng.choice(ports)
        packets = rng.randrange(1, 50)
        nbytes = packets * rng.randrange(40, 1500)
        action = "REJECT" if rng.random() < 0.1 else "ACCEPT"
        flags = rng.choice([0, 2, 3, 18, 19])
        hour = (end - T0) // 3600
        if inbound and not internal_peer:
            # An external client reaching the host: only the host's interface logs it.
            emit(src, hour, f"5 1 {eni[src]} {peer} {src} {sport} {dport} 6 {packets} {nbytes} {start} {end} "
                 f"{action} OK {inst[src]} {flags} {peer} {src} - ingress")
            continue
        emit(src, hour, f"5 1 {eni[src]} {src} {peer} {sport} {dport} 6 {packets} {nbytes} {start} {end} "
             f"{action} OK {inst[src]} {flags} {src} {peer} - egress")
        if internal_peer:
            # The receiver's copy of the same flow, a second later: must not count twice.
            emit(peer, hour, f"5 1 {eni[peer]} {src} {peer} {sport} {dport} 6 {packets} {nbytes} {start + 1} "
                 f"{end + 1} {action} OK {inst[peer]} {flags} {src} {peer} - ingress")
    lines = 0
    for (host, hour), records in sorted(objects.items()):
        path = os.path.join(root, f"{eni[host]}_{hour:02d}.log.gz")
        with gzip.open(path, "wt") as f:
            f.write(HEADER + "\n")
            f.write("\n".join(records) + "\n")
        lines += len(records)
    return lines


SQL = f"""
WITH raw AS (
    SELECT * FROM read_csv(?, delim=' ', header=true, nullstr='-', all_varchar=true)
), r AS (
    SELECT "pkt-srcaddr" AS src, "pkt-dstaddr" AS dst, CAST(dstport AS INTEGER) AS dport,
           CAST(srcport AS INTEGER) AS sport, CAST(protocol AS INTEGER) AS proto,
           CAST(bytes AS UBIGINT) AS b, CAST(packets AS UBIGINT) AS p, action,
           CAST("end" AS BIGINT) AS t, "flow-direction" AS dir,
           starts_with("pkt-srcaddr", '10.') AS src_int, starts_with("pkt-dstaddr", '10.') AS dst_int
    FROM raw
), kept AS (
    -- Every internal host here is monitored: its own egress copy counts, and an ingress
    -- copy counts only when the sender is external (nobody else logged it).
    SELECT *, t - t % {WINDOW} AS w FROM r WHERE dir = 'egress' OR (dir = 'ingress' AND NOT src_int)
), sides AS (
    SELECT src AS host, w, 'out' AS side, dst AS peer, dst_int AS peer_int, * EXCLUDE (w) FROM kept WHERE src_int
    UNION ALL
    SELECT dst AS host, w, 'in' AS side, src AS peer, src_int AS peer_int, * EXCLUDE (w) FROM kept WHERE dst_int
)
SELECT host, to_timestamp(w) AS window_start,
       count(*) FILTER (WHERE side = 'out') AS flows_out,
       count(*) FILTER (WHERE side = 'in') AS flows_in,
       coalesce(sum(b) FILTER (WHERE side = 'out'), 0) AS bytes_out,
       coalesce(sum(b) FILTER (WHERE side = 'in'), 0) AS bytes_in,
       coalesce(sum(p) FILTER (WHERE side = 'out'), 0) AS packets_out,
       coalesce(sum(p) FILTER (WHERE side = 'in'), 0) AS packets_in,
       coalesce(sum(b) FILTER (WHERE side = 'out' AND NOT peer_int), 0) AS bytes_out_external,
       coalesce(sum(b) FILTER (WHERE side = 'in' AND NOT peer_int), 0) AS bytes_in_external,
       count(DISTINCT peer) FILTER (WHERE peer_int) AS peers_internal,
       count(DISTINCT peer) FILTER (WHERE NOT peer_int) AS peers_external,
       count(DISTINCT dport) FILTER (WHERE side = 'out') AS dst_ports,
       count(*) FILTER (WHERE side = 'out' AND action = 'REJECT') AS rejects_out,
       count(*) FILTER (WHERE side = 'in' AND action = 'REJECT') AS rejects_in,
       count(DISTINCT (peer, dport, sport, proto))
           FILTER (WHERE side = 'out' AND peer_int AND dport IN {ADMIN}) AS admin_conns_out,
       coalesce(max(b) FILTER (WHERE side = 'out'), 0) AS max_flow_bytes_out
FROM sides GROUP BY host, w ORDER BY w, host
"""

COLUMNS = [
    "flows_out", "flows_in", "bytes_out", "bytes_in", "packets_out", "packets_in", "bytes_out_external",
    "bytes_in_external", "peers_internal", "peers_external", "dst_ports", "rejects_out", "rejects_in",
    "admin_conns_out", "max_flow_bytes_out",
]


def epoch(column):
    """Whole Unix seconds of a tz-aware datetime column, whatever its unit."""
    return column.map(lambda ts: int(ts.timestamp()))


def main():
    args = harness.parse_args(__doc__.splitlines()[0])
    harness.ensure_modules(REQUIRED, args.venv)

    import duckdb
    import pandas as pd
    import polars as pl

    binary = harness.find_binary(args.bin)
    tally = harness.Tally()
    check = tally.check

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "logs")
        os.makedirs(data)
        lines = generate(data)
        out = os.path.join(tmp, "features.parquet")
        subprocess.run([binary, "extract", data, "--out", out, "--window", "15m"], check=True)

        con = duckdb.connect()
        expected = con.execute(SQL, [os.path.join(data, "*.log.gz")]).df()
        expected["host"] = expected["host"].astype(str)

        frames = {
            "pandas": pd.read_parquet(out),
            "polars": pl.read_parquet(out).to_pandas(),
            "duckdb": con.execute("SELECT * FROM read_parquet(?)", [out]).df(),
        }
        for reader, got in frames.items():
            check(f"{reader}: row count", len(got) == len(expected), f"{len(got)} != {len(expected)}")
            check(f"{reader}: window_start is UTC", str(got["window_start"].dt.tz) in ("UTC", "Etc/UTC"), got["window_start"].dtype)
            width = (got["window_end"] - got["window_start"]).dt.total_seconds()
            check(f"{reader}: windows are 15 min", bool((width == WINDOW).all()))
            if len(got) != len(expected):
                continue
            g = got.copy()
            g["host"] = g["host"].astype(str)
            g["w"] = epoch(g["window_start"])
            order = list(zip(g["w"], [ipaddress.ip_address(h) for h in g["host"]]))
            check(f"{reader}: rows sorted by window, then host address", order == sorted(order))
            e = expected.copy()
            e["w"] = epoch(e["window_start"])
            joined = e.merge(g, on=["host", "w"], how="outer", suffixes=("_sql", ""), indicator=True)
            check(f"{reader}: same host-windows", bool((joined["_merge"] == "both").all()))
            joined = joined[joined["_merge"] == "both"]
            for col in COLUMNS:
                diff = joined[col].astype("int64") != joined[col + "_sql"].astype("int64")
                first = joined[diff][["host", "w", col, col + "_sql"]].head(1).to_dict("records")
                check(f"{reader}: {col}", not diff.any(), f"{int(diff.sum())} rows differ, first: {first}")
        total = int(frames["pandas"]["flows_out"].sum())
        print(f"{lines} record lines, {len(expected)} host-windows, {total} flows out")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())

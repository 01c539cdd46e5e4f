#!/usr/bin/env python3
"""Executes notebooks/baseline_explorer.ipynb headlessly against a small generated model.

Simulates a few hosts, trains a model and extracts the test days to Parquet with the
`flowhound` binary, checks that the committed notebook is what notebooks/build_ipynb.py
makes of its py:percent source, then runs the notebook's code cells in order in one
namespace (as a kernel would) and checks what they computed. A tampered copy of the model
must be refused by the notebook's verification cell. Prints `N passed, M failed` and exits
non-zero on any failure.

Usage:
    python3 tests/python/check_notebook.py [--bin target/debug/flowhound] [--venv DIR]

Without a Python that has pandas and pyarrow, the script creates a virtual environment
(default target/check-extract-venv, shared with check_extract.py, or --venv DIR, or
$FLOWHOUND_PY_VENV) with pip and re-runs itself inside it.
"""

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import harness

REQUIRED = ("pandas", "pyarrow")
ROOT = harness.ROOT
NOTEBOOKS = os.path.join(ROOT, "notebooks")
NAME = "baseline_explorer"



def run_notebook(cells, model, features):
    """Runs the code cells in one namespace from notebooks/ with the model and features set."""
    saved_env = {k: os.environ.get(k) for k in ("FLOWHOUND_MODEL", "FLOWHOUND_FEATURES", "MPLBACKEND")}
    os.environ.update(FLOWHOUND_MODEL=model, FLOWHOUND_FEATURES=features, MPLBACKEND="Agg")
    cwd = os.getcwd()
    os.chdir(NOTEBOOKS)
    namespace = {"__name__": "__main__"}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for i, source in enumerate(cells):
                exec(compile(source, f"{NAME}.ipynb cell {i}", "exec"), namespace)
    finally:
        os.chdir(cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return namespace


def main():
    args = harness.parse_args(__doc__.splitlines()[0])
    harness.ensure_modules(REQUIRED, args.venv)

    binary = harness.find_binary(args.bin)
    tally = harness.Tally()
    check = tally.check

    sys.path.insert(0, NOTEBOOKS)
    import build_ipynb

    source_path = os.path.join(NOTEBOOKS, f"{NAME}.py")
    with open(os.path.join(NOTEBOOKS, f"{NAME}.ipynb")) as f:
        committed = f.read()
    check("notebook is built from its py:percent source", committed == build_ipynb.render(source_path),
          f"run: python3 notebooks/build_ipynb.py {os.path.relpath(source_path, ROOT)}")
    notebook = json.loads(committed)
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    check("notebook has code cells", len(cells) >= 5, len(cells))

    with tempfile.TemporaryDirectory() as tmp:
        sim, model, features = (os.path.join(tmp, n) for n in ("sim", "model", "features.parquet"))
        quiet = {"stdout": subprocess.DEVNULL, "check": True, "env": dict(os.environ, RUST_LOG="warn")}
        subprocess.run([binary, "simulate", "--out", sim, "--seed", "5", "--hosts", "12", "--train-days", "2",
                        "--test-days", "1"], **quiet)
        subprocess.run([binary, "train", os.path.join(sim, "train"), "--model", model], **quiet)
        subprocess.run([binary, "extract", os.path.join(sim, "test"), "--out", features], **quiet)

        ns = run_notebook(cells, model, features)
        with open(os.path.join(model, "CURRENT")) as f:
            version = os.path.join(model, f.read().strip())
        with open(os.path.join(version, "manifest.json")) as f:
            manifest = json.load(f)
        check("verified id is the manifest's", ns["computed_id"] == manifest["id"], ns["computed_id"])
        hosts = manifest["training"]["counts"]["hosts"]
        comparison = ns["comparison"]
        check("every host has observed hours", comparison["host"].nunique() == hosts,
              f"{comparison['host'].nunique()} != {hosts}")
        check("expectations are finite", bool(comparison[["expected", "scale", "z"]].map(math.isfinite).all().all()))
        floor = ns["baseline"]["group_volume"][0]["params"]["min_scale"]
        check("scales respect the floor", bool((comparison["scale"] >= floor).all()), comparison["scale"].min())
        # The test day looks like the training days apart from the planted attacks, so the
        # typical host-hour is well within 1σ of its baseline.
        typical = float(comparison["z"].abs().median())
        check("observed volume typically near the baseline", typical < 1.0, typical)
        summary = ns["summary"]
        check("peer groups cover every host", int(summary["hosts"].sum()) == hosts, summary)
        check("group sizes match the model", list(summary["hosts"]) == list(summary["size_in_model"]), summary)
        thresholds = ns["thresholds"]
        check("a threshold per detector", {"beaconing", "exfiltration", "lateral_movement"} <= set(thresholds.index),
              list(thresholds.index))
        check("thresholds within their bounds",
              bool(((thresholds["threshold"] >= thresholds["floor"]) & (thresholds["threshold"] <= thresholds["ceiling"])).all()),
              thresholds)

        # A tampered payload and an edited manifest are refused by the verification cell.
        tampered = os.path.join(tmp, "tampered")
        shutil.copytree(version, tampered)
        with open(os.path.join(tampered, "baseline.json"), "r+b") as f:
            data = bytearray(f.read())
            at = max(i for i, b in enumerate(data) if chr(b).isdigit())
            data[at] = ord("2") if data[at] == ord("1") else ord("1")
            f.seek(0)
            f.write(data)
        try:
            run_notebook(cells, tampered, features)
            check("tampered payload refused", False, "the notebook ran")
        except ValueError as e:
            check("tampered payload refused", "checksum mismatch" in str(e), e)
        shutil.copytree(version, tampered, dirs_exist_ok=True)
        path = os.path.join(tampered, "manifest.json")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace('"calibration_quantile": 0.999', '"calibration_quantile": 0.99', 1))
        try:
            run_notebook(cells, tampered, features)
            check("edited manifest refused", False, "the notebook ran")
        except ValueError as e:
            check("edited manifest refused", "manifest was modified" in str(e), e)

    sys.exit(tally.finish())


if __name__ == "__main__":
    main()

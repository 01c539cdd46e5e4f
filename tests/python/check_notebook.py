#!/usr/bin/env python3
"""Executes the notebooks in notebooks/ headlessly against small simulations.

Checks that each committed notebook is what notebooks/build_ipynb.py makes of its
py:percent source, then runs its code cells in order in one namespace from notebooks/ (as a
kernel would: a cell's printed text and the value of its last expression are its output)
and checks what they computed:

- baseline_explorer: simulates a few hosts, trains a model and extracts the test days to
  Parquet with the `flowhound` binary, then checks the baselines, peer groups and thresholds
  the notebook shows; a tampered copy of the model must be refused by its verification cell.
- model_tuning: drives the binary itself (FLOWHOUND_BIN) in a scratch directory
  (FLOWHOUND_TUNING_DIR): every code cell must show something; the threshold sweep must have
  its columns, non-increasing recall and false positives, and the evaluation `flowhound
  evaluate` gives at the lowest threshold; the comparison must name both model versions and
  add up; the plot must be a PNG; model B must end up current. Its run time is printed.

Prints `N passed, M failed` and exits non-zero on any failure.

Usage:
    python3 tests/python/check_notebook.py [--bin target/debug/flowhound] [--venv DIR]

Without a Python that has pandas, pyarrow and matplotlib, the script creates a virtual environment
(default target/check-extract-venv, shared with check_extract.py, or --venv DIR, or
$FLOWHOUND_PY_VENV) with pip and re-runs itself inside it.
"""

import ast
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import harness

REQUIRED = ("pandas", "pyarrow", "matplotlib==3.11.2")
ROOT = harness.ROOT
NOTEBOOKS = os.path.join(ROOT, "notebooks")
NAME = "baseline_explorer"
TUNING = "model_tuning"
DETECTORS = {"beaconing", "exfiltration", "lateral_movement"}


def run_cells(name, cells, env):
    """Runs the code cells in one namespace from notebooks/ with `env` set, as a kernel would.
    Returns the namespace and each cell's output: what it printed, then the repr of its last
    statement when that is an expression (what Jupyter would display)."""
    saved_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cwd = os.getcwd()
    os.chdir(NOTEBOOKS)
    namespace = {"__name__": "__main__"}
    outputs = []
    try:
        for i, source in enumerate(cells):
            tree = ast.parse(source)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(tree, f"{name}.ipynb cell {i}", "exec"), namespace)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), f"{name}.ipynb cell {i}", "eval"), namespace)
                    if value is not None:
                        print(repr(value))
            outputs.append(out.getvalue())
    finally:
        os.chdir(cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    return namespace, outputs


def run_notebook(cells, model, features):
    """Runs the baseline explorer's code cells with the model and features set."""
    env = {"FLOWHOUND_MODEL": model, "FLOWHOUND_FEATURES": features, "MPLBACKEND": "Agg"}
    return run_cells(NAME, cells, env)[0]


def code_cells(check, build_ipynb, name):
    """The committed notebook's code cells, checked to be built from its py:percent source."""
    source_path = os.path.join(NOTEBOOKS, f"{name}.py")
    with open(os.path.join(NOTEBOOKS, f"{name}.ipynb")) as f:
        committed = f.read()
    check(f"{name}: notebook is built from its py:percent source", committed == build_ipynb.render(source_path),
          f"run: python3 notebooks/build_ipynb.py {os.path.relpath(source_path, ROOT)}")
    notebook = json.loads(committed)
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    check(f"{name}: notebook has code cells", len(cells) >= 5, len(cells))
    return cells


def check_tuning(check, binary, cells, tmp):
    """Runs the model tuning notebook in a scratch directory and checks what it computed."""
    work = os.path.join(tmp, "tuning")
    binary = os.path.abspath(binary)  # the cells run from notebooks/
    before = sorted(os.listdir(NOTEBOOKS))
    env = {"FLOWHOUND_BIN": binary, "FLOWHOUND_TUNING_DIR": work, "MPLBACKEND": "Agg"}
    started = time.monotonic()
    try:
        ns, outputs = run_cells(TUNING, cells, env)
    except Exception:
        check(f"{TUNING}: executes", False, traceback.format_exc(limit=-3))
        return
    print(f"{TUNING}: executed in {time.monotonic() - started:.1f} s")
    check(f"{TUNING}: writes nothing in notebooks/", sorted(os.listdir(NOTEBOOKS)) == before)
    for i, text in enumerate(outputs):
        check(f"{TUNING}: code cell {i} shows something", bool(text.strip()), cells[i][:80])

    models = os.path.join(work, "models")
    id_a, id_b = ns["ID_A"], ns["ID_B"]
    versions = sorted(d for d in os.listdir(models) if d.startswith("fh-"))
    check(f"{TUNING}: two model versions, A and B", versions == sorted([id_a, id_b]), versions)
    with open(os.path.join(models, "CURRENT")) as f:
        check(f"{TUNING}: B promoted", f.read().strip() == id_b)
    ceilings = []
    for model_id in (id_a, id_b):
        with open(os.path.join(models, model_id, "manifest.json")) as f:
            ceilings.append(json.load(f)["parameters"]["detect"]["lateral"]["ceiling"])
    check(f"{TUNING}: B is trained with its [detect] setting", ceilings == [22.0, 14.0], ceilings)

    sweep = ns["sweep"]
    columns = {"min_score", "detector", "findings", "detected", "recall", "recall_with_peer", "false_positives",
               "fp_per_1000_host_days", "precision"}
    check(f"{TUNING}: sweep columns", columns <= set(sweep.columns), list(sweep.columns))
    check(f"{TUNING}: sweep detectors", set(sweep["detector"]) == DETECTORS | {"overall"}, set(sweep["detector"]))
    check(f"{TUNING}: sweep from 50 to 100", (sweep["min_score"].min(), sweep["min_score"].max()) == (50, 100))
    for detector, runs in sweep.groupby("detector"):
        runs = runs.sort_values("min_score")
        for column in ("recall", "false_positives", "findings"):
            check(f"{TUNING}: {detector} {column} non-increasing", runs[column].is_monotonic_decreasing,
                  list(runs[column]))
    # The lowest threshold keeps every finding: the sweep's first row is `evaluate` of them all.
    sim = os.path.join(work, "sim")
    done = subprocess.run([binary, "evaluate", "--json", "--findings", os.path.join(work, "findings_a.jsonl"),
                           "--labels", os.path.join(sim, "labels.jsonl"), "--scenario",
                           os.path.join(sim, "scenario.json")], capture_output=True, text=True, check=True,
                          env=dict(os.environ, RUST_LOG="warn"))
    report = json.loads(done.stdout)
    at_50 = sweep[sweep["min_score"] == 50].set_index("detector")
    for d in [*report["detectors"], report["overall"]]:
        got = at_50.loc[d["detector"], ["recall", "false_positives", "findings"]].tolist()
        want = [d["recall"], d["false_positives"], d["findings"]]
        check(f"{TUNING}: sweep at 50 is evaluate's ({d['detector']})", got == want, f"{got} != {want}")
    check(f"{TUNING}: model A finds something", report["overall"]["recall"] > 0, report["overall"])

    with open(ns["PLOT"], "rb") as f:
        png = f.read()
    check(f"{TUNING}: plot saved as PNG", png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, len(png))

    comparison = ns["comparison"]
    check(f"{TUNING}: compare names both versions", (comparison["a"]["id"], comparison["b"]["id"]) == (id_a, id_b),
          (comparison["a"]["id"], comparison["b"]["id"]))
    check(f"{TUNING}: the compare cell shows both ids",
          any("model A:" in text and id_a in text and id_b in text for text in outputs))
    for change in comparison["detectors"]:
        check(f"{TUNING}: compare adds up ({change['detector']})",
              change["findings_a"] == change["matched"] + change["removed"]
              and change["findings_b"] == change["matched"] + change["added"], change)
    check(f"{TUNING}: B loses no label and gains some",
          not comparison["lost_labels"] and len(comparison["gained_labels"]) > 0,
          (comparison["lost_labels"], comparison["gained_labels"]))
    check(f"{TUNING}: labels lost and gained are shown",
          any("labels lost by B: 0" in text and "labels gained by B:" in text for text in outputs))


def main():
    args = harness.parse_args(__doc__.splitlines()[0])
    harness.ensure_modules(REQUIRED, args.venv)

    binary = harness.find_binary(args.bin)
    tally = harness.Tally()
    check = tally.check

    sys.path.insert(0, NOTEBOOKS)
    import build_ipynb

    check("every notebook source is checked here",
          sorted(os.path.basename(p) for p in build_ipynb.sources()) == [f"{NAME}.py", f"{TUNING}.py"],
          build_ipynb.sources())
    cells = code_cells(check, build_ipynb, NAME)
    tuning_cells = code_cells(check, build_ipynb, TUNING)

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

        check_tuning(check, binary, tuning_cells, tmp)

    sys.exit(tally.finish())


if __name__ == "__main__":
    main()

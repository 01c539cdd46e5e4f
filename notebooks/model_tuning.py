# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tuning, comparing and promoting a flowhound model
#
# This notebook drives the `flowhound` binary end to end on a labelled simulation:
#
# 1. simulate a small VPC with labelled attacks (`flowhound simulate`);
# 2. train model **A** with the default settings, and model **B** with one `[detect]` setting
#    changed, into the same model directory without making B current (`train --no-promote`);
# 3. sweep the alert threshold (the minimum finding score) of model A against the labels with
#    `flowhound evaluate`, and plot recall and false positives per detector;
# 4. compare the two models on the same test day with `flowhound compare`: findings added,
#    removed and re-scored per detector, recall and precision of each, the labels B would lose
#    or gain;
# 5. promote B (`flowhound promote`), which is what production picks up.
#
# Set `FLOWHOUND_BIN` to the binary (default: `flowhound` on the `PATH`, else
# `../target/release/flowhound`) and `FLOWHOUND_TUNING_DIR` to a working directory (default: a
# new temporary directory) before starting Jupyter. It needs pandas and matplotlib. Commands are
# echoed with the working directory written as `$WORK`. The settings are in docs/detectors.md,
# the evaluation in docs/evaluation.md, the commands in docs/cli.md.

# %%
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

FLOWHOUND = os.environ.get("FLOWHOUND_BIN") or shutil.which("flowhound") or "../target/release/flowhound"
WORK = Path(os.environ.get("FLOWHOUND_TUNING_DIR") or tempfile.mkdtemp(prefix="flowhound-tuning-"))
WORK.mkdir(parents=True, exist_ok=True)
SIM, MODELS = WORK / "sim", WORK / "models"
# A small scenario, so that the notebook runs in seconds. `simulate`'s defaults (60 hosts, 7
# training days) give steadier numbers; model B's setting below was chosen on this seed.
SEED, HOSTS, TRAIN_DAYS, TEST_DAYS = 5, 12, 2, 1


def flowhound(*args, echo=True):
    """Runs `flowhound ARGS...` and returns its stdout; a failure raises with its stderr."""
    args = [str(a) for a in args]
    if echo:
        print("$ flowhound", " ".join(a.replace(str(WORK), "$WORK") for a in args))
    done = subprocess.run([FLOWHOUND, *args], capture_output=True, text=True, env=dict(os.environ, RUST_LOG="warn"))
    if done.returncode != 0:
        raise RuntimeError(f"flowhound {args[0]} exited with {done.returncode}:\n{done.stderr}")
    if done.stderr.strip():
        print(done.stderr.strip())
    return done.stdout


print(flowhound("--version", echo=False).strip(), "at", FLOWHOUND)
print("WORK =", WORK)

# %% [markdown]
# ## 1. A labelled scenario
#
# `simulate` writes training days without attacks, test days with labelled attacks
# (`labels.jsonl`) and legitimate look-alikes, and `scenario.json` (hosts, host-days, the
# look-alikes that false positives are attributed to). The same seed writes the same bytes.

# %%
wrote = flowhound("simulate", "--out", SIM, "--seed", SEED, "--hosts", HOSTS, "--train-days", TRAIN_DAYS,
                  "--test-days", TEST_DAYS)
print(wrote.strip().replace(str(WORK), "$WORK"))
TRAIN, TEST = SIM / "train", SIM / "test"
LABELS, SCENARIO = SIM / "labels.jsonl", SIM / "scenario.json"
scenario = json.loads(SCENARIO.read_text())
labels = pd.read_json(LABELS, lines=True)
host_days = scenario["test"]["host_days"]
print(f"{len(labels)} labelled attacks in {host_days} host-days under test")
labels.groupby("detector")["variant"].agg(attacks="count", variants=lambda v: ", ".join(sorted(set(v))))

# %% [markdown]
# ## 2. Model A (defaults) and model B (one setting changed)
#
# `train` writes a version `DIR/<id>/` and, by default, makes it current (`DIR/CURRENT`).
# The id is a hash of the manifest, so retraining the same data with the same settings gives
# the same id.

# %%
summary_a = flowhound("train", TRAIN, "--model", MODELS)
print(summary_a.replace(str(WORK), "$WORK"))
ID_A = re.search(r"^model\s+(fh-[0-9a-f]+)", summary_a, re.M).group(1)
assert (MODELS / "CURRENT").read_text().strip() == ID_A, "train makes its model current"

# %% [markdown]
# Each detector's threshold is a high quantile of the raw scores the training period itself
# produced (a replay of its second half) plus a margin, clamped to the detector's
# `[floor, ceiling]` (docs/detectors.md, "Calibration"). In a fleet this small the lateral
# detector's replay tops out above the 14-bit floor, so the threshold for a quiet new internal
# edge lands above the floor, and the scenario's quiet SMB and RDP edges are scored under it.
# Model B pins that threshold at the floor with a lower `ceiling` in a configuration file's
# `[detect.lateral]` table. `--no-promote` writes B beside A and leaves A current: nothing that
# scores with this directory sees B yet.

# %%
CONFIG_B = WORK / "model_b.toml"
CONFIG_B.write_text("[detect.lateral]\n# Quiet-edge threshold at most the 14-bit floor (default ceiling 22).\nceiling = 14.0\n")
summary_b = flowhound("train", TRAIN, "--model", MODELS, "--config", CONFIG_B, "--no-promote")
print(summary_b.replace(str(WORK), "$WORK"))
ID_B = re.search(r"^model\s+(fh-[0-9a-f]+)", summary_b, re.M).group(1)
assert ID_B != ID_A and (MODELS / ID_B / "manifest.json").exists(), "model B has model A's settings"
assert (MODELS / "CURRENT").read_text().strip() == ID_A, "--no-promote leaves CURRENT alone"


def flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def version(model_id):
    """A version's manifest and calibrated thresholds."""
    manifest = json.loads((MODELS / model_id / "manifest.json").read_text())
    baseline = json.loads((MODELS / model_id / "baseline.json").read_text())
    return manifest, pd.DataFrame(baseline["calibration"]["thresholds"]).T


(manifest_a, thresholds_a), (manifest_b, thresholds_b) = version(ID_A), version(ID_B)
settings_a, settings_b = flatten(manifest_a["parameters"]["detect"]), flatten(manifest_b["parameters"]["detect"])
changed = {k: (settings_a[k], settings_b[k]) for k in settings_a if settings_a[k] != settings_b.get(k)}
print("[detect] settings that differ (A, B):", changed)
assert changed == {"lateral.ceiling": (22.0, 14.0)}, changed
calibration = pd.DataFrame({
    "observed_quantile": thresholds_a["observed_quantile"],
    "margin": thresholds_a["margin"],
    "threshold_A": thresholds_a["threshold"],
    "threshold_B": thresholds_b["threshold"],
    "ceiling_B": thresholds_b["ceiling"],
})
calibration.round(3)

# %% [markdown]
# ## 3. Sweeping the alert threshold of model A
#
# Findings are written from a score of 50 (the calibrated threshold: `50 + 40 · (raw −
# threshold) / span`, plus at most 10 points from the isolation forest, capped at 100).
# Alerting only from a higher minimum score is a higher detector threshold: a minimum of `s`
# asks for about `(s − 50) / 40` spans more raw score (less the forest's points; the raw score
# and threshold are in each finding's `evidence`). So one `score` run is enough: every minimum
# keeps a subset of its findings, and `evaluate` scores each subset against the labels. A
# subset can only lose detections and false positives, so recall and false positives never
# rise with the threshold (checked below). A threshold under 50 needs a model with lower
# thresholds, like B.

# %%
FINDINGS_A = WORK / "findings_a.jsonl"
flowhound("score", TEST, "--model", MODELS / ID_A, "--findings", FINDINGS_A)
lines = FINDINGS_A.read_text().splitlines()
scores = [json.loads(line)["score"] for line in lines]
print(f"{len(lines)} findings, scores {min(scores):.1f} to {max(scores):.1f}")

MIN_SCORES = [50 + 2.5 * i for i in range(21)]
subset = WORK / "findings_subset.jsonl"
print(f"$ flowhound evaluate --json --findings <findings with score >= s> --labels {LABELS} --scenario {SCENARIO}".replace(str(WORK), "$WORK"),
      f"for s in {MIN_SCORES[0]}, {MIN_SCORES[1]}, ..., {MIN_SCORES[-1]}")
rows = []
for s in MIN_SCORES:
    subset.write_text("".join(line + "\n" for line, score in zip(lines, scores) if score >= s))
    report = json.loads(flowhound("evaluate", "--json", "--findings", subset, "--labels", LABELS,
                                  "--scenario", SCENARIO, echo=False))
    for d in [*report["detectors"], report["overall"]]:
        rows.append({
            "min_score": s,
            "detector": d["detector"],
            "findings": d["findings"],
            "labels": d["instances"],
            "detected": d["detected"],
            "recall": d["recall"],
            "recall_with_peer": d["recall_with_peer"],
            "false_positives": d["false_positives"],
            "fp_per_1000_host_days": d["false_positives_per_1000_host_days"],
            "precision": d["precision"],
        })
sweep = pd.DataFrame(rows)
for detector, runs in sweep.groupby("detector"):
    runs = runs.sort_values("min_score")
    for column in ("findings", "detected", "recall", "recall_with_peer", "false_positives"):
        assert runs[column].is_monotonic_decreasing, f"{detector}: {column} rises with the threshold"
assert int(sweep[(sweep.min_score == 50) & (sweep.detector == "overall")]["findings"].iloc[0]) == len(lines)
sweep.pivot(index="min_score", columns="detector", values=["recall", "false_positives"]).round(3)

# %% [markdown]
# What raising the threshold buys: per detector, the highest minimum score that still detects
# every label found at 50, and the false positives left there.

# %%
at_50 = sweep[sweep.min_score == 50].set_index("detector")
same_recall = sweep[sweep["detected"] == sweep["detector"].map(at_50["detected"])]
highest = same_recall.loc[same_recall.groupby("detector")["min_score"].idxmax()].set_index("detector")
headroom = pd.DataFrame({
    "recall_at_50": at_50["recall"],
    "false_positives_at_50": at_50["false_positives"],
    "highest_min_score_same_recall": highest["min_score"],
    "false_positives_there": highest["false_positives"],
})
headroom.round(3)

# %%
import matplotlib.pyplot as plt

PLOT = WORK / "threshold_sweep.png"
fig, (ax_recall, ax_fp) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
for detector, runs in sweep.groupby("detector"):
    style = {"color": "black", "linestyle": "--"} if detector == "overall" else {}
    ax_recall.plot(runs["min_score"], runs["recall"], drawstyle="steps-post", marker=".", label=detector, **style)
    ax_fp.plot(runs["min_score"], runs["false_positives"], drawstyle="steps-post", marker=".", label=detector, **style)
ax_recall.set(title=f"model {ID_A}: recall", xlabel="minimum finding score", ylabel="recall", ylim=(-0.05, 1.05))
ax_fp.set(title="false positives", xlabel="minimum finding score",
          ylabel=f"false positives in {host_days} host-days")
ax_fp.yaxis.get_major_locator().set_params(integer=True)
ax_recall.legend(loc="lower left")
fig.tight_layout()
fig.savefig(PLOT, dpi=100)
print("saved", PLOT)
plt.show()

# %% [markdown]
# ## 4. What model B changes
#
# `compare` scores the same logs with both models (the first `--model` is the one in use: the
# directory, i.e. its current version; the second the candidate, pinned as `DIR/<id>`), matches
# findings (same detector, host and peer, overlapping windows) and counts per detector those
# only B has (`added`), only A has (`removed`), both have (`matched`) and, among those, the ones
# whose score changed (`rescored`). With `--labels` it evaluates both.

# %%
comparison = json.loads(flowhound("compare", "--model", MODELS, "--model", MODELS / ID_B, TEST, "--labels", LABELS,
                                  "--scenario", SCENARIO, "--json"))
for side in ("a", "b"):
    print(f"model {side.upper()}: {comparison[side]['id']} ({comparison[side]['location'].replace(str(WORK), '$WORK')}),"
          f" {comparison[side]['findings']} findings")
assert (comparison["a"]["id"], comparison["b"]["id"]) == (ID_A, ID_B)
changes = pd.DataFrame(comparison["detectors"]).set_index("detector")
assert (changes["findings_a"] == changes["matched"] + changes["removed"]).all()
assert (changes["findings_b"] == changes["matched"] + changes["added"]).all()
assert (changes["rescored"] <= changes["matched"]).all() and (changes["severity_changed"] <= changes["matched"]).all()
assert changes["findings_a"].sum() == comparison["a"]["findings"] == len(lines), "compare scores A like `score`"
assert changes["findings_b"].sum() == comparison["b"]["findings"]
assert changes[["added", "removed", "rescored"]].to_numpy().sum() > 0, "model B changes no finding: pick another setting"
changes.round(3)

# %%
def quality(side):
    evaluation = comparison[side]["evaluation"]
    table = pd.DataFrame([*evaluation["detectors"], evaluation["overall"]]).set_index("detector")
    return table[["instances", "detected", "recall", "precision", "false_positives"]]


quality_ab = pd.concat({"A": quality("a"), "B": quality("b")}, axis=1)
# compare's evaluation of A is the sweep's at the scorer's own threshold, 50.
assert (quality_ab["A"]["recall"] == at_50["recall"].reindex(quality_ab.index)).all()
assert (quality_ab["A"]["false_positives"] == at_50["false_positives"].reindex(quality_ab.index)).all()
quality_ab.round(3)

# %%
def outcome_keys(side):
    return {(o["detector"], o["host"], o["peer"], o["start"]): o["detected"] for o in comparison[side]["evaluation"]["labels"]}


def label_table(outcomes):
    return pd.DataFrame(outcomes, columns=["detector", "host", "peer", "variant", "start", "end"])


detected_a, detected_b = outcome_keys("a"), outcome_keys("b")
lost, gained = label_table(comparison["lost_labels"]), label_table(comparison["gained_labels"])
assert len(lost) == sum(detected_a[k] and not detected_b[k] for k in detected_a)
assert len(gained) == sum(detected_b[k] and not detected_a[k] for k in detected_b)
for what, table in (("lost", lost), ("gained", gained)):
    print(f"labels {what} by B: {len(table)}")
    if not table.empty:
        print(table.to_string(index=False))
print(f"false positives: A {quality_ab['A', 'false_positives']['overall']}, B {quality_ab['B', 'false_positives']['overall']}")

# %% [markdown]
# ## 5. Promoting model B
#
# B loses no label and detects more. `promote` verifies the version (schema, id, every payload's
# size and sha256) and points `CURRENT` at it; `score`, `hunt`, `compare` and `serve` given the
# directory use it from then on (`serve` within its `model_check`). For a model directory in S3
# the same command takes `--model s3://bucket/prefix/`. Rolling back is promoting the previous
# id: `flowhound promote --model DIR <id of A>`.
#
# The retraining task does the same check unattended: `flowhound train ... --gate-labels
# labels.jsonl --gate-source <labelled logs>` makes the new version current only if it detects
# every label the current model detects there, and otherwise keeps it unpromoted and exits
# with 3 (docs/cli.md).

# %%
assert lost.empty, "B would lose labels: keep A"
before = (MODELS / "CURRENT").read_text().strip()
print(flowhound("promote", "--model", MODELS, ID_B).strip().replace(str(WORK), "$WORK"))
after = (MODELS / "CURRENT").read_text().strip()
print(f"CURRENT: {before} -> {after}")
assert (before, after) == (ID_A, ID_B)
pd.DataFrame({"version": [ID_A, ID_B], "settings": ["defaults", CONFIG_B.name], "current": [after == ID_A, after == ID_B]})

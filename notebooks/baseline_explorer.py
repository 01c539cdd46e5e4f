# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exploring a flowhound model
#
# This notebook opens a model directory written by `flowhound train` and a feature table written
# by `flowhound extract`, verifies the model the way `flowhound score` does, and shows what the
# baseline learned: per-host seasonal volume baselines against what was observed, the peer groups
# and the calibrated detector thresholds.
#
# Set `FLOWHOUND_MODEL` (a model directory) and `FLOWHOUND_FEATURES` (a `.parquet` file from
# `flowhound extract ... --window 15m`, the window the model was trained with) before starting
# Jupyter, or edit the next cell. The format is documented in `models/README.md`.

# %%
import hashlib
import json
import math
import os
from pathlib import Path

import pandas as pd

MODEL_ROOT = Path(os.environ.get("FLOWHOUND_MODEL", "../models/reference"))
# A model directory holds versions and CURRENT naming the one in use; a directory with a
# manifest inside is a single version (models/README.md).
MODEL_DIR = MODEL_ROOT / (MODEL_ROOT / "CURRENT").read_text().strip() if (MODEL_ROOT / "CURRENT").exists() else MODEL_ROOT
FEATURES = Path(os.environ.get("FLOWHOUND_FEATURES", "features.parquet"))
SUPPORTED_SCHEMA_VERSION = 4

# %% [markdown]
# ## Verify the model like the scorer
#
# The manifest lists every payload with its size and sha256. The model id is `fh-` and the first
# 16 hex digits of the sha256 of the manifest's own bytes with the id blanked, so an edited
# manifest shows too. (The scorer also compares the feature schema with the columns it
# extracts; here we compare it with the Parquet table's columns.)

# %%
manifest_text = (MODEL_DIR / "manifest.json").read_text()
manifest = json.loads(manifest_text)
if manifest["schema_version"] != SUPPORTED_SCHEMA_VERSION:
    raise ValueError(f"model schema version {manifest['schema_version']}, this notebook reads {SUPPORTED_SCHEMA_VERSION}")

for name, entry in manifest["files"].items():
    data = (MODEL_DIR / name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"] or len(data) != entry["bytes"]:
        raise ValueError(f"checksum mismatch for payload {name}: {digest}, the manifest says {entry['sha256']}")

id_line = '\n  "id": ' + json.dumps(manifest["id"]) + ",\n"
blank = manifest_text.replace(id_line, '\n  "id": "",\n', 1)
computed_id = "fh-" + hashlib.sha256(blank.encode()).hexdigest()[:16]
if computed_id != manifest["id"]:
    raise ValueError(f"manifest was modified: id {manifest['id']} but content hashes to {computed_id}")

baseline = json.loads((MODEL_DIR / "baseline.json").read_bytes())
training = manifest["training"]
print(f"model {manifest['id']} verified ({manifest['generator']})")
print(
    "trained on", pd.to_datetime(training["start_unix"], unit="s", utc=True),
    "..", pd.to_datetime(training["end_unix"], unit="s", utc=True),
)
pd.Series(training["counts"], name="count").to_frame()

# %% [markdown]
# ## The feature table

# %%
features = pd.read_parquet(FEATURES)
missing = [c for c in manifest["feature_schema"]["names"] if c not in features.columns]
if missing:
    raise ValueError(f"the feature table lacks the model's feature columns {missing}")
features["window_start"] = pd.to_datetime(features["window_start"], utc=True)
features["hour"] = features["window_start"].dt.hour
# The seasonal volume feature: bytes to external addresses outside AWS, per window.
features["volume"] = (features["bytes_out_external"] - features["bytes_out_aws"]).clip(lower=0)
print(f"{len(features)} host windows of {features['host'].nunique()} hosts")
features[["host", "window_start", "bytes_out_external", "bytes_out_aws", "volume"]].head()

# %% [markdown]
# ## Per-host seasonal baselines against observed volume
#
# Each host keeps the median and σ (MAD × 1.4826) of `log1p(volume)` per hour-of-day cell with
# enough support and over all hours. Its peer group's prior (`group_volume`) fills in the rest:
# the expectation is the host cell blended with `shrinkage` pseudo-windows of the host's
# all-hours level moved by the group's daily shape, as in `HostSeasonal::score`
# (crates/flowhound-model/src/seasonal.rs).

# %%
shrinkage = baseline["params"]["shrinkage"]
hosts = {h["ip"]: h for h in baseline["histories"]["hosts"]}


def blend(stat, prior, k):
    n = stat["n"]
    return {
        "location": (n * stat["median"] + k * prior["location"]) / (n + k),
        "scale": (n * stat["scale"] + k * prior["scale"]) / (n + k),
        "support": n,
    }


def expectation(host, hour):
    """What the baseline expects of `host` at `hour` (log1p scale), with its floored scale."""
    history = hosts[host]
    prior = baseline["group_volume"][history["group"]]
    level = prior["all"]
    level_cell = prior["cells"].get(str(hour), level)
    own_all = history["volume"]["all"]
    if own_all is not None:
        shaped = blend(own_all, level, shrinkage)
        shaped["location"] += level_cell["location"] - level["location"]
    else:
        shaped = dict(level_cell)
    own_cell = history["volume"]["cells"].get(str(hour))
    est = blend(own_cell, shaped, shrinkage) if own_cell is not None else shaped
    est["scale"] = max(est["scale"], prior["params"]["min_scale"])
    return est


observed = features.groupby(["host", "hour"])["volume"].median().rename("observed_median").reset_index()
observed = observed[observed["host"].isin(hosts)]
rows = []
for record in observed.itertuples():
    est = expectation(record.host, record.hour)
    z = (math.log1p(record.observed_median) - est["location"]) / est["scale"]
    rows.append({"expected": math.expm1(est["location"]), "scale": est["scale"], "support": est["support"], "z": z})
comparison = pd.concat([observed.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
comparison.sort_values("z", key=abs, ascending=False).head(10)

# %%
# One host's day: expected against observed volume per hour (plotted when matplotlib is there).
busiest = comparison.groupby("host")["observed_median"].sum().idxmax()
day = comparison[comparison["host"] == busiest].set_index("hour")[["observed_median", "expected"]]
try:
    import matplotlib.pyplot as plt

    day.plot(logy=True, title=f"{busiest}: median external bytes per window by hour")
    plt.show()
except ImportError:
    print(day)

# %% [markdown]
# ## Peer groups
#
# KMeans over robust-scaled host profiles, k chosen by silhouette (`candidates`); group 0 is the
# largest. `relative_distance` is a host's distance to its centroid over the group's typical one.

# %%
groups = baseline["groups"]
print("silhouette by k:", {c["k"]: round(c["silhouette"], 3) for c in groups["candidates"]})
members = pd.DataFrame(
    {
        "host": [h["ip"] for h in baseline["histories"]["hosts"]],
        "group": [h["group"] for h in baseline["histories"]["hosts"]],
        "windows": [h["windows"] for h in baseline["histories"]["hosts"]],
    }
)
summary = members.groupby("group").agg(hosts=("host", "count"), windows=("windows", "sum"))
summary["size_in_model"] = groups["sizes"]
summary["typical_distance"] = groups["typical_distance"]
summary

# %% [markdown]
# ## Calibration thresholds
#
# Each detector's threshold is a high quantile (`calibration_quantile`) of the training period's
# per-host-day maximum raw scores plus a margin, bounded by the detector's floor and ceiling.

# %%
thresholds = pd.DataFrame(baseline["calibration"]["thresholds"]).T
print("calibration quantile:", baseline["params"]["calibration_quantile"])
thresholds[["threshold", "observed_quantile", "margin", "floor", "ceiling", "host_days"]]

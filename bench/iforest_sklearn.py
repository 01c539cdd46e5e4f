"""Compare flowhound's isolation forest with scikit-learn's on the same data.

Reads data.npy, labels.npy, rust_scores.npy and rust_timings.json written by the
`iforest_bench` example, fits scikit-learn's IsolationForest with the same settings
(100 trees, 256 samples, all features), and prints rank agreement and speed.
"""

import argparse
import json
import os
import time

import numpy as np
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def run_sklearn(x, seed, n_jobs, repeats):
    fit_s, score_s, scores = [], [], None
    for _ in range(repeats):
        model = IsolationForest(n_estimators=100, max_samples=256, random_state=seed, n_jobs=n_jobs)
        t = time.perf_counter()
        model.fit(x)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        # score_samples is the negated anomaly score 2^(-E[h]/c(n)); negate to match ours.
        scores = -model.score_samples(x)
        score_s.append(time.perf_counter() - t)
        fit_s.append(t_fit)
    total = sorted(f + s for f, s in zip(fit_s, score_s))
    return {
        "fit_s": float(np.median(fit_s)),
        "score_s": float(np.median(score_s)),
        "total_s": total[len(total) // 2],
        "scores": scores,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="target/bench-iforest")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    x = np.load(os.path.join(args.dir, "data.npy"))
    labels = np.load(os.path.join(args.dir, "labels.npy"))
    ours = np.load(os.path.join(args.dir, "rust_scores.npy"))
    with open(os.path.join(args.dir, "rust_timings.json")) as f:
        rust = json.load(f)

    sk2 = run_sklearn(x, 0, 2, args.repeats)
    sk1 = run_sklearn(x, 0, 1, args.repeats)
    sk_other = run_sklearn(x, 1, 2, 1)["scores"]

    import sklearn

    print(f"data: {x.shape[0]} x {x.shape[1]}, {int(labels.sum())} planted outliers; scikit-learn {sklearn.__version__}")
    print(f"{'':28} {'fit s':>8} {'score s':>8} {'total s':>8} {'AUC':>7}")
    rows = [
        (f"flowhound ({rust['threads']} threads)", rust, ours),
        ("scikit-learn n_jobs=2", sk2, sk2["scores"]),
        ("scikit-learn n_jobs=1", sk1, sk1["scores"]),
    ]
    for name, t, s in rows:
        print(f"{name:28} {t['fit_s']:8.3f} {t['score_s']:8.3f} {t['total_s']:8.3f} {roc_auc_score(labels, s):7.4f}")
    rho = spearmanr(ours, sk2["scores"]).statistic
    rho_sk = spearmanr(sk_other, sk2["scores"]).statistic
    print(f"speed-up vs scikit-learn n_jobs=2: {sk2['total_s'] / rust['total_s']:.1f}x")
    print(f"speed-up vs scikit-learn n_jobs=1: {sk1['total_s'] / rust['total_s']:.1f}x")
    print(f"Spearman rho flowhound vs scikit-learn (seed 0): {rho:.4f}")
    print(f"Spearman rho scikit-learn seed 0 vs seed 1 (reference): {rho_sk:.4f}")


if __name__ == "__main__":
    main()

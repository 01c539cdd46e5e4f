#!/usr/bin/env python3
"""Hunts the real captures of ../shared/data cold and scores the findings against their labels.

Each capture is hunted with no model (the capture is its own baseline), exactly as a hunter
would run `flowhound hunt` on an archive without a clean period. Per capture it prints the C2
hosts found as beaconing, the scanners found as lateral_movement, and the benign hosts flagged
(by beaconing and by any detector). `--mode self` instead trains a model on the capture and
scores the same capture with it (what a user without `hunt` would do).

    python3 bench/real_captures.py --bin target/release/flowhound [--data ../shared/data] [--json]

Standard library only. The captures are not part of the repository (their README says why);
this is an evaluation script, not a test.
"""

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile

CAPTURES = [
    {
        "name": "cicids2017_bot",
        "file": "cicids2017_bot/cicids2017_bot.vpcflow.log.gz",
        "labels": "cicids2017_bot/labels.csv",
        "args": [],
        # The Meterpreter session of .25 is 4 interactive flows, not a beacon: reported apart.
        "not_periodic": {"192.168.10.25"},
    },
    {
        "name": "otrf_apt29",
        "file": "otrf_apt29/otrf_apt29.vpcflow.log",
        "labels": "otrf_apt29/labels.csv",
        "args": ["--window", "10m", "--external", "192.168.0.4/31"],
        "not_periodic": set(),
    },
    {
        "name": "rita_missing_host",
        "file": "rita_missing_host/rita_missing_host.vpcflow.log.gz",
        "labels": None,
        "args": ["--internal", "64.225.56.201/32"],
        "not_periodic": set(),
    },
]


def read_labels(path):
    hosts = {}
    if path is None:
        return hosts
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            hosts.setdefault(row["host_ip"], set()).add(row["label"])
    return hosts


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p


def findings_of(binary, capture, data, mode, work):
    src = os.path.join(data, capture["file"])
    out = os.path.join(work, capture["name"] + ".jsonl")
    if mode == "hunt":
        run([binary, "hunt", src, "--findings", out, *capture["args"]])
    else:
        model = os.path.join(work, capture["name"] + "-model")
        run([binary, "train", src, "--model", model, *capture["args"]])
        score_args = [a for a in capture["args"]]
        # score takes the model's window; --window is a train flag only.
        if "--window" in score_args:
            i = score_args.index("--window")
            del score_args[i : i + 2]
        run([binary, "score", src, "--model", model, "--findings", out, *score_args])
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(capture, findings, labels):
    c2 = {h for h, ls in labels.items() if "c2_beacon" in ls}
    periodic_c2 = c2 - capture["not_periodic"]
    scanners = {h for h, ls in labels.items() if "lateral_scan" in ls}
    labelled_attack = {h for h, ls in labels.items() if ls - {"benign"}}
    beacon_hosts = {f["host"] for f in findings if f["detector"] == "beaconing"}
    lateral_hosts = {f["host"] for f in findings if f["detector"] == "lateral_movement"}
    any_hosts = {f["host"] for f in findings}
    return {
        "capture": capture["name"],
        "findings": len(findings),
        "c2_hosts": len(c2),
        "c2_found": sorted(c2 & beacon_hosts),
        "periodic_c2_missed": sorted(periodic_c2 - beacon_hosts),
        "scanners": sorted(scanners),
        "scanners_found": sorted(scanners & lateral_hosts),
        "benign_flagged_beaconing": sorted(beacon_hosts - labelled_attack),
        "benign_flagged_any": sorted(any_hosts - labelled_attack),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/flowhound")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap.add_argument("--mode", choices=["hunt", "self"], default="hunt")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as work:
        for capture in CAPTURES:
            if not os.path.exists(os.path.join(args.data, capture["file"])):
                print(f"{capture['name']}: not present, skipped", file=sys.stderr)
                continue
            labels = read_labels(capture["labels"] and os.path.join(args.data, capture["labels"]))
            findings = findings_of(args.bin, capture, args.data, args.mode, work)
            results.append(evaluate(capture, findings, labels))
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for r in results:
        print(f"{r['capture']}: {r['findings']} findings")
        print(f"  C2 hosts found as beaconing: {len(r['c2_found'])}/{r['c2_hosts']} {r['c2_found']}")
        print(f"  periodic C2 hosts missed:    {r['periodic_c2_missed']}")
        print(f"  scanners found as lateral:   {r['scanners_found']} of {r['scanners']}")
        print(f"  benign hosts flagged (beaconing): {r['benign_flagged_beaconing']}")
        print(f"  benign hosts flagged (any):       {r['benign_flagged_any']}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks the sharded stack offline (deploy/cloudformation/shards.yaml against flowhound.yaml).

cfn-lint cannot see inside the nested stacks: it does not know which parameters
flowhound.yaml takes, nor what each shard gets. This script expands the template's
Fn::ForEach loops the way the AWS::LanguageExtensions transform does (the identifier in
output keys, in Ref and in Fn::Sub; never in an Fn::If condition name, which
CloudFormation leaves alone), renders the shards' parameters for a few sample parameter
sets (shards a, b and c) and checks:

- the nested stacks: one per shard, logical id Shard<name>, TemplateURL the given URL;
- their parameters: every one exists in flowhound.yaml's Parameters, every one of those
  is passed (so every setting of a shard is a setting of this stack; those without a
  Default must be), each rendered value passes flowhound.yaml's AllowedPattern,
  AllowedValues and bounds;
- retraining: exactly one shard has its schedule ENABLED, the one named by RetrainShard
  (none when RetrainScheduleState is DISABLED);
- metrics: the shards' MetricNamespace values are distinct;
- the model: every shard gets the same non-empty ModelBucketName (so no shard creates a
  bucket of its own), ModelPrefix and ModelKmsKeyArn;
- EventBridge: with EventBridgeRulePrefix, each shard admits its own rule's ARN;
- drift from flowhound.yaml: a parameter passed through unchanged has the same type,
  default and constraints in both templates; the model bucket, its policy and the Rules
  copied from flowhound.yaml are the same; the two loops differ only in
  RetrainScheduleState;
- the outputs: each shard's QueueUrl and QueueArn, read from flowhound.yaml outputs that
  exist; every Fn::If names a condition that exists after the expansion;
- the shard-name pattern refuses names that cannot be part of a logical id.

Prints `N passed, M failed` and exits non-zero on any failure. Needs PyYAML (target/ci-venv
has it, or it is installed into --venv).

Usage:
    python3 tests/python/check_shards.py [--template FILE] [--venv DIR]
"""

import argparse
import copy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_state_machine import ensure_yaml, load_template, pattern_ok  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARDS = os.path.join(ROOT, "deploy", "cloudformation", "shards.yaml")
SHARD = os.path.join(ROOT, "deploy", "cloudformation", "flowhound.yaml")
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::StackName": "flowhound-shards", "AWS::URLSuffix": "amazonaws.com"}
CREATED_BUCKET = "flowhound-shards-modelbucket-1a2b3c"
URL = "https://acme-cfn.s3.us-east-1.amazonaws.com/flowhound/1.0.0/flowhound.yaml"
BASE = {
    "RetrainShard": ["a"], "OtherShards": ["b", "c"], "ShardTemplateUrl": URL,
    "FlowLogBucketName": "acme-flowlogs", "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:pager",
    "VpcId": "vpc-0abc1234", "PrivateSubnet1": "subnet-0aaa1111", "PrivateSubnet2": "subnet-0bbb2222",
    "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowhound:1.0.0",
}
SAMPLES = {
    "defaults": dict(BASE),
    "given bucket, rules": dict(BASE, ModelBucketName="acme-models", ModelPrefix="team/models/",
                                ModelKmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/1",
                                EventBridgeRulePrefix="flowhound-shard-", MetricNamespace="Acme/Flowhound"),
    "retraining moved to b": dict(BASE, RetrainShard=["b"], OtherShards=["a", "c"]),
    "retraining disabled": dict(BASE, RetrainScheduleState="DISABLED"),
}
SHARD_NAMES_REFUSED = ["shard-a", "a_b", "a.b", "", "a b", "é"]
SHARD_NAMES_ACCEPTED = ["a", "B", "eu1", "Shard42"]
NOVALUE = object()


# ---------------------------------------------------------------- Fn::ForEach, as the transform does it

def substitute(x, ident, value):
    """The fragment of one iteration: the identifier in keys (${x} and &{x}), in Ref and in
    Fn::Sub strings; nowhere else (not in plain strings, not in an Fn::If condition name)."""
    if isinstance(x, list):
        return [substitute(i, ident, value) for i in x]
    if not isinstance(x, dict):
        return x
    if len(x) == 1:
        (key, arg), = x.items()
        if key == "Ref" and arg == ident:
            return value
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return {key: arg.replace("${" + ident + "}", value)}
            return {key: [arg[0].replace("${" + ident + "}", value), substitute(arg[1], ident, value)]}
        if key == "Fn::If":
            return {key: [arg[0], substitute(arg[1], ident, value), substitute(arg[2], ident, value)]}
    out = {}
    for k, v in x.items():
        k = k.replace("${" + ident + "}", value).replace("&{" + ident + "}", re.sub("[^0-9A-Za-z]", "", value))
        out[k] = substitute(v, ident, value)
    return out


def expand(x, params):
    """Expands every Fn::ForEach::Name key of every mapping in x (loops nest)."""
    if isinstance(x, list):
        return [expand(i, params) for i in x]
    if not isinstance(x, dict):
        return x
    out = {}
    for k, v in x.items():
        if k.startswith("Fn::ForEach::"):
            ident, collection, fragment = v
            if isinstance(collection, dict):
                collection = params[collection["Ref"]]
            for value in collection:
                for k2, v2 in expand(substitute(fragment, ident, value), params).items():
                    if k2 in out:
                        raise ValueError(f"{k} makes {k2} twice")
                    out[k2] = v2
        else:
            if k in out:
                raise ValueError(f"{k} twice")
            out[k] = expand(v, params)
    return out


class Parent:
    """shards.yaml expanded and evaluated for one parameter set."""

    def __init__(self, raw, values):
        self.params = {}
        for name, spec in raw["Parameters"].items():
            value = values.get(name, spec.get("Default"))
            if value is None:
                raise KeyError(f"parameter {name} has no default and no value")
            self.params[name] = value if spec["Type"] != "CommaDelimitedList" or isinstance(value, list) \
                else value.split(",")
        self.t = {s: expand(raw.get(s, {}), self.params) for s in ("Conditions", "Resources", "Outputs")}
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.ev(self.t["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NOVALUE
        if name in self.params:
            value = self.params[name]
            return value if isinstance(value, list) else str(value)
        res = self.t["Resources"][name]
        if res["Type"] == "AWS::S3::Bucket":
            return CREATED_BUCKET
        return f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1"

    def ev(self, x):
        if isinstance(x, list):
            return [v for v in (self.ev(i) for i in x) if v is not NOVALUE]
        if not isinstance(x, dict):
            return x
        if len(x) == 1:
            (key, arg), = x.items()
            if key == "Ref":
                return self.ref(self.ev(arg))
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                if not isinstance(arg[0], str) or arg[0] not in self.t["Conditions"]:
                    raise KeyError(f"Fn::If names no condition: {arg[0]!r}")
                return self.ev(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.ev(arg[0]) == self.ev(arg[1])
            if key == "Fn::Not":
                return not self.ev(arg[0])
            if key == "Fn::Join":
                return arg[0].join(self.ev(arg[1]))
            if key == "Fn::Sub" and isinstance(arg, str):
                return re.sub(r"\$\{([^}.]+)\}", lambda m: str(self.ref(m.group(1))), arg)
            if key == "Fn::GetAtt":
                logical, attr = self.ev(arg[0]), arg[1]
                if logical not in self.t["Resources"]:
                    raise KeyError(f"GetAtt of no resource {logical}")
                return f"<{logical}.{attr}>"
            if key.startswith("Fn::"):
                raise KeyError(f"intrinsic {key} is not rendered by this check")
        return {k: v for k, v in ((k, self.ev(v)) for k, v in x.items()) if v is not NOVALUE}

    def stacks(self):
        return {n: r for n, r in self.t["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack"}


def rule_ok(ref, assertion):
    """Evaluates the Rules functions shards.yaml uses; `ref` gives a parameter's value."""
    def ev(x):
        if isinstance(x, dict):
            (key, arg), = x.items()
            if key == "Ref":
                return ref(arg)
            if key == "Fn::Not":
                return not ev(arg[0])
            if key == "Fn::Equals":
                return ev(arg[0]) == ev(arg[1])
            if key == "Fn::Contains":
                return ev(arg[1]) in ev(arg[0])
            if key == "Fn::EachMemberIn":
                return all(v in ev(arg[1]) for v in ev(arg[0]))
            raise KeyError(f"rule function {key}")
        return x
    return ev(assertion)


def value_ok(spec, value):
    """`pattern_ok` (AllowedValues, AllowedPattern) and the MinValue/MaxValue bounds."""
    if not pattern_ok(spec, value):
        return False
    if "MinValue" in spec and float(value) < float(spec["MinValue"]):
        return False
    if "MaxValue" in spec and float(value) > float(spec["MaxValue"]):
        return False
    return True


def if_condition_names(x):
    if isinstance(x, list):
        for i in x:
            yield from if_condition_names(i)
    elif isinstance(x, dict):
        for k, v in x.items():
            if k == "Fn::If":
                yield v[0]
            yield from if_condition_names(v)


CONSTRAINTS = ("Type", "Default", "AllowedValues", "AllowedPattern", "MinValue", "MaxValue")


def check_static(t, raw, child):
    child_params = child["Parameters"]
    t.check("transform", raw.get("Transform") in ("AWS::LanguageExtensions", ["AWS::LanguageExtensions"]),
            f"Transform {raw.get('Transform')!r}")
    for name in ("RetrainShard", "OtherShards"):
        spec = raw["Parameters"][name]
        t.check("shard list type", spec["Type"] == "CommaDelimitedList", f"{name}: {spec['Type']}")
        for v in SHARD_NAMES_REFUSED:
            t.check("shard name refused", not value_ok(spec, v), f"{name} accepts {v!r}")
        for v in SHARD_NAMES_ACCEPTED:
            t.check("shard name accepted", value_ok(spec, v), f"{name} refuses {v!r}")

    loops = {k: v for k, v in raw["Resources"].items() if k.startswith("Fn::ForEach::")}
    t.check("two shard loops", len(loops) == 2, f"{sorted(loops)}")
    bodies = []
    for name, (ident, collection, fragment) in loops.items():
        t.check("loop over a list parameter", isinstance(collection, dict) and
                raw["Parameters"].get(collection.get("Ref"), {}).get("Type") == "CommaDelimitedList",
                f"{name}: {collection}")
        (key, res), = fragment.items()
        t.check("logical id Shard<name>", key == "Shard${" + ident + "}", f"{name}: {key}")
        body = copy.deepcopy(res)
        body["Properties"]["Parameters"].pop("RetrainScheduleState", None)
        bodies.append(body)
    t.check("loops differ only in RetrainScheduleState", len(bodies) == 2 and bodies[0] == bodies[1],
            "the two shard loops pass different parameters")

    for (ident, collection, fragment) in loops.values():
        (res,) = fragment.values()
        for name, value in res["Properties"]["Parameters"].items():
            if value == {"Ref": name} and name in raw["Parameters"] and name in child_params:
                mine = {k: raw["Parameters"][name].get(k) for k in CONSTRAINTS}
                theirs = {k: child_params[name].get(k) for k in CONSTRAINTS}
                t.check("pass-through parameter matches flowhound.yaml", mine == theirs,
                        f"{name}: shards.yaml {mine} != flowhound.yaml {theirs}")

    for attr in ("QueueUrl", "QueueArn"):
        t.check("shard output exists in flowhound.yaml", attr in child["Outputs"], attr)
    for logical in ("ModelBucket", "ModelBucketPolicy"):
        mine, theirs = raw["Resources"].get(logical), child["Resources"].get(logical)
        t.check("copied resource matches flowhound.yaml", mine == theirs, f"{logical} differs")
    for rule, body in child.get("Rules", {}).items():
        t.check("copied rule matches flowhound.yaml", raw.get("Rules", {}).get(rule) == body, f"rule {rule}")


def check_sample(t, raw, child, label, values):
    child_params = child["Parameters"]
    try:
        parent = Parent(raw, values)
    except (KeyError, ValueError, TypeError) as e:
        t.check("expands", False, f"{label}: {e}")
        return
    for rule, body in raw.get("Rules", {}).items():
        applies = "RuleCondition" not in body or rule_ok(parent.ref, body["RuleCondition"])
        for a in body["Assertions"] if applies else []:
            t.check("rules hold", rule_ok(parent.ref, a["Assert"]), f"{label}: rule {rule} refuses the sample")

    names = values["RetrainShard"] + values["OtherShards"]
    stacks = parent.stacks()
    t.check("one stack per shard", sorted(stacks) == sorted(f"Shard{n}" for n in names),
            f"{label}: {sorted(stacks)}")
    for logical in stacks:
        t.check("logical id", re.fullmatch("[A-Za-z0-9]{1,255}", logical) is not None, f"{label}: {logical}")

    given = {}
    for logical, res in sorted(stacks.items()):
        try:
            props = parent.ev(res["Properties"])
        except KeyError as e:
            t.check("renders", False, f"{label} {logical}: {e}")
            continue
        t.check("template url", props.get("TemplateURL") == URL, f"{label} {logical}: {props.get('TemplateURL')}")
        passed = props.get("Parameters", {})
        given[logical] = passed
        for name in passed:
            t.check("parameter exists in flowhound.yaml", name in child_params, f"{label} {logical}: {name}")
        for name, spec in child_params.items():
            if "Default" not in spec:
                t.check("required parameter passed", name in passed, f"{label} {logical}: {name} missing")
            t.check("every parameter passed", name in passed, f"{label} {logical}: {name} not settable")
            if name in passed:
                t.check("value allowed by flowhound.yaml", value_ok(spec, passed[name]),
                        f"{label} {logical}: {name}={passed[name]!r}")
    if len(given) != len(stacks):
        return

    enabled = sorted(n for n, p in given.items() if p.get("RetrainScheduleState", "ENABLED") != "DISABLED")
    want = [] if values.get("RetrainScheduleState") == "DISABLED" else [f"Shard{values['RetrainShard'][0]}"]
    t.check("retraining in exactly RetrainShard", enabled == want, f"{label}: enabled in {enabled}, want {want}")
    namespaces = [p.get("MetricNamespace") for p in given.values()]
    t.check("namespaces distinct", len(set(namespaces)) == len(namespaces), f"{label}: {namespaces}")
    model = {(p.get("ModelBucketName"), p.get("ModelPrefix", "models/"), p.get("ModelKmsKeyArn", ""))
             for p in given.values()}
    t.check("one model location", len(model) == 1, f"{label}: {model}")
    bucket = values.get("ModelBucketName") or CREATED_BUCKET
    t.check("model bucket given to every shard", all(p.get("ModelBucketName") == bucket for p in given.values()),
            f"{label}: {[p.get('ModelBucketName') for p in given.values()]}, want {bucket}")
    rules = [p.get("EventBridgeRuleArn", "") for p in given.values()]
    if values.get("EventBridgeRulePrefix"):
        want_rules = sorted(f"arn:aws:events:us-east-1:123456789012:rule/{values['EventBridgeRulePrefix']}{n}"
                            for n in names)
        t.check("eventbridge rule per shard", sorted(rules) == want_rules, f"{label}: {rules}")
    else:
        t.check("no eventbridge rule", rules == [""] * len(rules), f"{label}: {rules}")

    outputs = parent.ev(parent.t["Outputs"])
    for n in names:
        for attr in ("QueueUrl", "QueueArn"):
            key = f"Shard{n}{attr}"
            value = outputs.get(key, {}).get("Value")
            t.check("shard output", value == f"<Shard{n}.Outputs.{attr}>", f"{label}: {key} = {value}")
    t.check("model url output", outputs.get("ModelUrl", {}).get("Value") ==
            f"s3://{bucket}/{values.get('ModelPrefix', 'models/')}", f"{label}: {outputs.get('ModelUrl')}")
    for cond in if_condition_names([parent.t["Resources"], parent.t["Outputs"]]):
        t.check("Fn::If names a condition", cond in parent.t["Conditions"], f"{label}: {cond!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=SHARDS)
    parser.add_argument("--venv", default=os.environ.get("FLOWHOUND_PY_VENV",
                                                         os.path.join(ROOT, "target", "check-extract-venv")))
    args = parser.parse_args()
    ensure_yaml(args.venv)
    import harness

    t = harness.Tally()
    raw, child = load_template(args.template), load_template(SHARD)
    check_static(t, raw, child)
    for label, values in SAMPLES.items():
        check_sample(t, raw, child, label, values)
    # The retraining shard also listed among the others: a rule refuses it before the
    # transform would (two resources ShardB).
    bad = dict(BASE, RetrainShard=["b"], OtherShards=["b", "c"])
    refused = [rule for rule, body in raw.get("Rules", {}).items() if "RuleCondition" not in body and
               not all(rule_ok(bad.get, a["Assert"]) for a in body["Assertions"])]
    t.check("rule refuses RetrainShard in OtherShards", refused != [], "no rule refuses RetrainShard=b OtherShards=b,c")
    try:
        Parent(raw, bad)
        t.check("duplicate shard refused", False, "RetrainShard=b OtherShards=b,c expands")
    except ValueError:
        t.check("duplicate shard refused", True)
    sys.exit(t.finish())


if __name__ == "__main__":
    main()

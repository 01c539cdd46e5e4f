#!/usr/bin/env python3
"""Checks the backfill stack's state machine offline (deploy/cloudformation/backfill.yaml).

cfn-lint validates the definition against the States Language schema; it does not follow
transitions, evaluate paths or intrinsic functions, or know what flowhound expects. This
script renders the template for a few parameter sets the way CloudFormation would (its
intrinsic functions, then the DefinitionSubstitutions) and checks:

- the substitutions: every ${name} of the definition is given, every one given is used, no
  value can break the JSON (the parameters' AllowedPatterns refuse quotes, backslashes and
  spaces; checked with values they must refuse), and the result parses;
- the States Language rules a schema cannot, in the machine and in each Map's ItemProcessor:
  one StartAt naming a state, every Next, Default and Catch target exists in the same scope,
  every state is reachable, Task/Pass/Map states have exactly one of Next and End,
  Choice/Succeed/Fail none, a terminal state exists, every path can reach one; state names
  are unique across the machine, every Map is inline (its iterations need no more IAM), and
  every Task is a batch:submitJob.sync of this stack's queue and job definitions, each
  catching States.ALL;
- the job definitions: Fargate, the project image, awslogs to a log group with retention,
  a timeout, retries that never repeat exit 2 (usage) or 3 (the gate's verdict);
- executions, when LocalStack's States Language interpreter is installed (the AWS emulator
  of tests/run.sh, target/emulator/venv): scenarios run in it with AWS Batch faked (each
  job succeeds, or fails with a given exit code and a DescribeJobs document as its Cause,
  as .sync reports it): the argument lists submitted are compared with the commands of the
  spec (docs/scale.md), their flags with the commands' --help in docs/cli.md; the final
  status, error and outcome with the expected ones (train exit 3 ends the execution
  successfully with "not promoted"; a bad input ends in InvalidInput before any job). With
  "periods", each period's jobs (told apart by their Map iteration in the history) are those
  of a run of that period alone named <run>/<i>, the output lists each period's findings
  location, one period runs at a time by default, and with "concurrency" C periods overlap
  but never more than C;
- IAM: each job's role, evaluated like IAM (actions, resources, s3:prefix conditions), may
  make exactly the S3 calls its command needs, and not the others' writes; the state
  machine's role may submit to its queue and definitions and watch the jobs.

Prints `N passed, M failed` and exits non-zero on any failure. Runs itself with
target/emulator/venv/bin/python when this Python lacks LocalStack (that venv has PyYAML and
the interpreter); else needs PyYAML (target/ci-venv has it, or it is installed into --venv)
and skips the execution scenarios (the last line says so).

Usage:
    python3 tests/python/check_state_machine.py [--template FILE] [--venv DIR]
"""

import argparse
import copy
import fnmatch
import json
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(ROOT, "deploy", "cloudformation", "backfill.yaml")
CLI_DOC = os.path.join(ROOT, "docs", "cli.md")
REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "flowhound-backfill"
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": STACK,
          "AWS::URLSuffix": "amazonaws.com"}
NOVALUE = object()


def ensure_yaml(venv):
    """Returns if PyYAML imports; else re-runs this script with target/ci-venv's Python, or
    with `venv`'s after installing PyYAML there."""
    try:
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("FLOWHOUND_CHECK_REEXEC"):
        sys.exit(f"PyYAML still missing in {sys.executable}")
    env = dict(os.environ, FLOWHOUND_CHECK_REEXEC="1")
    argv = [os.path.abspath(sys.argv[0]), *sys.argv[1:]]
    python = os.path.join(ROOT, "target", "ci-venv", "bin", "python")
    if not os.path.exists(python):
        python = os.path.join(venv, "bin", "python")
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"],
                       check=True)
    os.execve(python, [python, *argv], env)


def choose_python(venv):
    """Re-runs this script in the emulator's venv (PyYAML and LocalStack's interpreter) when
    this Python lacks LocalStack; else makes sure PyYAML imports (`ensure_yaml`)."""
    try:
        import localstack  # noqa: F401
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    emulator = os.path.join(ROOT, "target", "emulator", "venv", "bin", "python")
    if os.path.exists(emulator) and not os.environ.get("FLOWHOUND_CHECK_REEXEC"):
        env = dict(os.environ, FLOWHOUND_CHECK_REEXEC="1")
        os.execve(emulator, [emulator, os.path.abspath(sys.argv[0]), *sys.argv[1:]], env)
    ensure_yaml(venv)


# ---------------------------------------------------------------- CloudFormation rendering

def load_template(path):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "Condition":
            return {"Condition": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {"Fn::" + suffix: value}

    Loader.add_multi_constructor("!", tagged)
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


class Stack:
    """The template rendered with one set of parameter values, as CloudFormation would."""

    def __init__(self, template, params):
        self.t = template
        self.params = {}
        for name, spec in template["Parameters"].items():
            if name in params:
                self.params[name] = params[name]
            elif "Default" in spec:
                self.params[name] = spec["Default"]
            else:
                raise KeyError(f"parameter {name} has no default and no value")
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.ev(self.t["Conditions"][name]))
        return self.conditions[name]

    def exists(self, logical):
        cond = self.t["Resources"][logical].get("Condition")
        return cond is None or self.condition(cond)

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NOVALUE
        if name in self.params:
            value = self.params[name]
            spec = self.t["Parameters"][name]
            if spec["Type"].startswith("List<"):
                return value if isinstance(value, list) else value.split(",")
            return str(value)
        res = self.t["Resources"][name]
        props, kind = res.get("Properties", {}), res["Type"]
        if kind == "AWS::Batch::JobQueue":
            return f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name}-Q1"
        if kind == "AWS::Batch::JobDefinition":
            return f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{self.ev(props['JobDefinitionName'])}:7"
        if kind == "AWS::Batch::ComputeEnvironment":
            return f"arn:aws:batch:{REGION}:{ACCOUNT}:compute-environment/{name}-C1"
        if kind == "AWS::S3::Bucket":
            return f"{STACK}-{name.lower()}-1a2b3c"
        if kind == "AWS::Logs::LogGroup":
            return self.ev(props["LogGroupName"]) if "LogGroupName" in props else f"{STACK}-{name}-L1"
        if kind == "AWS::IAM::Role":
            return f"{STACK}-{name}-R1"
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}-S1"
        return f"{name}-physical-id"

    def getatt(self, name, attr):
        kind = self.t["Resources"][name]["Type"]
        if attr == "Arn":
            if kind == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{self.ref(name)}"
            if kind == "AWS::Logs::LogGroup":
                return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.ref(name)}:*"
            if kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{ACCOUNT}:role/{self.ref(name)}"
        raise KeyError(f"GetAtt {name}.{attr}")

    def sub(self, text, variables):
        def one(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(variables[key])
            if "." in key:
                return str(self.getatt(*key.split(".", 1)))
            return str(self.ref(key))
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def ev(self, x):
        if isinstance(x, list):
            return [v for v in (self.ev(i) for i in x) if v is not NOVALUE]
        if not isinstance(x, dict):
            return x
        if len(x) == 1:
            (key, arg), = x.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                return self.ev(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                a, b = self.ev(arg[0]), self.ev(arg[1])
                return a == b
            if key == "Fn::Not":
                return not self.ev(arg[0])
            if key == "Fn::And":
                return all(self.ev(a) for a in arg)
            if key == "Fn::Or":
                return any(self.ev(a) for a in arg)
            if key == "Fn::GetAtt":
                return self.getatt(*arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                return self.sub(arg[0], {k: self.ev(v) for k, v in arg[1].items()})
            if key == "Fn::Join":
                return arg[0].join(self.ev(arg[1]))
            if key == "Fn::Split":
                return self.ev(arg[1]).split(arg[0])
            if key == "Fn::Select":
                return self.ev(arg[1])[int(self.ev(arg[0]))]
            if key.startswith("Fn::"):
                raise KeyError(f"intrinsic {key} is not rendered by this check")
        out = {}
        for k, v in x.items():
            v = self.ev(v)
            if v is not NOVALUE:
                out[k] = v
        return out

    def resources(self, kind):
        return {n: r for n, r in self.t["Resources"].items() if r["Type"] == kind and self.exists(n)}

    def props(self, logical):
        return self.ev(self.t["Resources"][logical].get("Properties", {}))


def pattern_ok(spec, value):
    if "AllowedValues" in spec and str(value) not in [str(v) for v in spec["AllowedValues"]]:
        return False
    if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], str(value)) is None:
        return False
    return True


def render_definition(stack):
    """The definition as Step Functions receives it, and the substitution keys used and given."""
    (logical, res), = stack.resources("AWS::StepFunctions::StateMachine").items()
    raw = res["Properties"]["Definition"]
    text = json.dumps(raw)
    subs = stack.ev(res["Properties"].get("DefinitionSubstitutions", {}))
    used = set(re.findall(r"\$\{([^}]+)\}", text))
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: str(subs.get(m.group(1), m.group(0))), text)
    return logical, rendered, used, set(subs)


# ---------------------------------------------------------------- States Language rules

TERMINAL = {"Succeed", "Fail"}


def transitions(state):
    out = []
    if "Next" in state:
        out.append(state["Next"])
    if "Default" in state:
        out.append(state["Default"])
    for rule in state.get("Choices", []):
        out.append(rule["Next"])
    for catcher in state.get("Catch", []):
        out.append(catcher["Next"])
    return out


def scopes(asl, owner=None):
    """The definition's scopes, (owner, StartAt, States): the machine's (owner None), then each
    Map's ItemProcessor (owner: the Map's name), depth first. Transitions stay in a scope."""
    yield owner, asl.get("StartAt"), asl.get("States", {})
    for name, state in asl.get("States", {}).items():
        if state.get("Type") == "Map":
            yield from scopes(state.get("ItemProcessor") or state.get("Iterator") or {}, name)


def all_states(asl):
    """Every state of every scope, by name (names are unique across the machine)."""
    return {name: state for _, _, states in scopes(asl) for name, state in states.items()}


def check_asl(t, asl, stack):
    names = [name for _, _, states in scopes(asl) for name in states]
    t.check("asl state names unique", len(names) == len(set(names)),
            f"repeated: {sorted(n for n in set(names) if names.count(n) > 1)}")
    for owner, start, states in scopes(asl):
        check_scope(t, owner, start, states)
    for name, state in all_states(asl).items():
        if state.get("Type") != "Map":
            continue
        # Inline: the iterations run in this execution with its role; a distributed Map would
        # start child executions (states:StartExecution, which the role does not grant).
        processor = state.get("ItemProcessor", {})
        mode = processor.get("ProcessorConfig", {}).get("Mode")
        t.check("map inline", "ItemProcessor" in state and mode == "INLINE", f"{name}: ProcessorConfig.Mode {mode}")
        t.check("map items", str(state.get("ItemsPath", "")).startswith("$."),
                f"{name}: ItemsPath {state.get('ItemsPath')}")
    return check_tasks(t, all_states(asl), stack)


def check_scope(t, owner, start, states):
    where = f"{owner}: " if owner else ""
    t.check("asl StartAt", start in states, f"{where}StartAt {start!r} is not a state")
    for name, state in states.items():
        kind = state.get("Type")
        for target in transitions(state):
            t.check("asl transition target", target in states, f"{where}{name} -> {target!r}: no such state")
        if kind in ("Task", "Pass", "Wait", "Parallel", "Map"):
            t.check("asl Next xor End", ("Next" in state) != bool(state.get("End")),
                    f"{where}{name}: needs exactly one of Next and End")
        else:
            t.check("asl no Next/End", "Next" not in state and "End" not in state,
                    f"{where}{name} ({kind}) may have neither Next nor End")
        if kind == "Choice":
            t.check("asl choice rules", bool(state.get("Choices")), f"{where}{name}: no Choices")
        if kind == "Fail":
            one_error = ("Error" in state) != ("ErrorPath" in state)
            one_cause = ("Cause" in state) != ("CausePath" in state)
            t.check("asl fail error", one_error and one_cause,
                    f"{where}{name}: give Error or ErrorPath, and Cause or CausePath")
        for catcher in state.get("Catch", []):
            errors = catcher.get("ErrorEquals", [])
            if "States.ALL" in errors:
                t.check("asl States.ALL alone and last", errors == ["States.ALL"] and catcher is state["Catch"][-1],
                        f"{where}{name}: States.ALL must be alone in the last catcher")
    # Reachability from StartAt, and every state reaching a terminal one.
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo.extend(transitions(states[name]))
    t.check("asl reachable", seen == set(states), f"{where}unreachable: {sorted(set(states) - seen)}")
    ends = {n for n, s in states.items() if s.get("Type") in TERMINAL or s.get("End")}
    t.check("asl terminal", bool(ends), f"{where}no terminal state")
    for name in states:
        reach, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n in reach or n not in states:
                continue
            reach.add(n)
            todo.extend(transitions(states[n]))
        t.check("asl can terminate", bool(reach & ends), f"{where}{name} reaches no terminal state")


def check_tasks(t, states, stack):
    # Tasks: this stack's Batch jobs, .sync, catching everything.
    queues = set(stack.ref(n) for n in stack.resources("AWS::Batch::JobQueue"))
    jobdefs = {stack.ref(n): n for n in stack.resources("AWS::Batch::JobDefinition")}
    task_jobdefs = {}
    for name, state in states.items():
        if state.get("Type") != "Task":
            continue
        t.check("task resource", state.get("Resource") == "arn:aws:states:::batch:submitJob.sync",
                f"{name}: {state.get('Resource')}")
        params = state.get("Parameters", {})
        t.check("task queue", params.get("JobQueue") in queues, f"{name}: JobQueue {params.get('JobQueue')}")
        t.check("task job definition", params.get("JobDefinition") in jobdefs,
                f"{name}: JobDefinition {params.get('JobDefinition')}")
        task_jobdefs[name] = jobdefs.get(params.get("JobDefinition"))
        job_name = params.get("JobName", "")
        t.check("task job name", re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", job_name) is not None,
                f"{name}: JobName {job_name!r}")
        t.check("task command from intrinsics", "Command.$" in params.get("ContainerOverrides", {}),
                f"{name}: ContainerOverrides.Command.$ missing")
        catches = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
        t.check("task catches all", "States.ALL" in catches, f"{name}: no Catch of States.ALL")
        t.check("task result discarded", "ResultPath" in state and state["ResultPath"] is None,
                f"{name}: ResultPath should be null (keep the input, drop the job document)")
    return task_jobdefs


def check_job_definitions(t, stack):
    for name in stack.resources("AWS::Batch::JobDefinition"):
        p = stack.props(name)
        c = p.get("ContainerProperties", {})
        t.check("jobdef fargate", p.get("PlatformCapabilities") == ["FARGATE"],
                f"{name}: {p.get('PlatformCapabilities')}")
        t.check("jobdef image", c.get("Image") == stack.params["ImageUri"], f"{name}: image {c.get('Image')}")
        roles = (c.get("JobRoleArn", ""), c.get("ExecutionRoleArn", ""))
        t.check("jobdef roles", all(r.startswith("arn:aws:iam::") for r in roles),
                f"{name}: job and execution roles {roles}")
        kinds = {r["Type"] for r in c.get("ResourceRequirements", [])}
        t.check("jobdef resources", kinds == {"VCPU", "MEMORY"}, f"{name}: {kinds}")
        log = c.get("LogConfiguration", {})
        group = log.get("Options", {}).get("awslogs-group")
        groups = {stack.ref(g): g for g in stack.resources("AWS::Logs::LogGroup")}
        t.check("jobdef awslogs", log.get("LogDriver") == "awslogs" and group in groups, f"{name}: {log}")
        if group in groups:
            t.check("jobdef log retention", "RetentionInDays" in stack.props(groups[group]),
                    f"{name}: {groups[group]} keeps logs forever")
        t.check("jobdef timeout", int(p.get("Timeout", {}).get("AttemptDurationSeconds", 0)) >= 60,
                f"{name}: no timeout")
        retry = p.get("RetryStrategy", {})
        rules = retry.get("EvaluateOnExit", [])
        t.check("jobdef retries", int(retry.get("Attempts", 1)) >= 2, f"{name}: {retry}")

        def action_for(code):
            for rule in rules:
                if "OnExitCode" in rule and fnmatch.fnmatchcase(str(code), rule["OnExitCode"]):
                    return rule["Action"].upper()
            return "RETRY"
        for code, want in ((2, "EXIT"), (3, "EXIT"), (1, "RETRY"), (137, "RETRY")):
            t.check("jobdef exit codes", action_for(code) == want,
                    f"{name}: exit {code} -> {action_for(code)}, want {want}")


# ---------------------------------------------------------------- IAM

def matches(pattern, value):
    """IAM wildcards: * any run of characters, ? one character."""
    return re.fullmatch(".*".join(".".join(re.escape(p) for p in part.split("?")) for part in pattern.split("*")),
                        value, re.S) is not None


def as_list(x):
    return x if isinstance(x, list) else [x]


class Iam:
    def __init__(self, stack):
        self.stack = stack

    def statements(self, role):
        p = self.stack.props(role)
        out = [s for pol in p.get("Policies", []) for s in pol["PolicyDocument"]["Statement"]]
        for name in self.stack.resources("AWS::IAM::Policy"):
            pp = self.stack.props(name)
            if self.stack.ref(role) in pp["Roles"]:
                out.extend(pp["PolicyDocument"]["Statement"])
        return out

    def allowed(self, role, action, resource, context=None):
        context = context or {}
        for s in self.statements(role):
            if s["Effect"] != "Allow":
                continue
            if not any(matches(a.lower(), action.lower()) for a in as_list(s["Action"])):
                continue
            if not any(matches(r, resource) for r in as_list(s["Resource"])):
                continue
            ok = True
            for op, block in s.get("Condition", {}).items():
                for key, want in block.items():
                    have = context.get(key)
                    if have is None:
                        ok = False
                    elif op in ("StringLike", "ArnLike"):
                        ok = ok and any(matches(w, have) for w in as_list(want))
                    elif op in ("StringEquals", "ArnEquals", "Bool"):
                        ok = ok and have in [str(w) for w in as_list(want)]
                    else:
                        ok = False
            if ok:
                return True
        return False


def split_s3(url):
    assert url.startswith("s3://"), url
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def needed_calls(argv):
    """The S3 calls a command makes, as (action, resource ARN, context), from its arguments."""
    calls = []
    sub = argv[2]
    opts = {}
    positional = []
    i = 3
    while i < len(argv):
        if argv[i].startswith("--"):
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                opts.setdefault(argv[i], []).append(argv[i + 1])
                i += 2
            else:
                opts.setdefault(argv[i], []).append(None)
                i += 1
        else:
            positional.append(argv[i])
            i += 1

    def listing(url, deeper=""):
        b, k = split_s3(url)
        calls.append(("s3:ListBucket", f"arn:aws:s3:::{b}", {"s3:prefix": k + deeper}))

    def get(url, suffix=""):
        b, k = split_s3(url)
        calls.append(("s3:GetObject", f"arn:aws:s3:::{b}/{k}{suffix}", {}))

    def put(url, suffix=""):
        b, k = split_s3(url)
        calls.append(("s3:PutObject", f"arn:aws:s3:::{b}/{k}{suffix}", {}))

    def model(url, write):
        b, _ = split_s3(url)
        calls.append(("s3:ListBucket", f"arn:aws:s3:::{b}", {}))  # the 404-not-403 probe
        get(url, "CURRENT")
        get(url, "fh-0123456789abcdef/manifest.json")
        if write:
            put(url, "fh-0123456789abcdef/model.json.gz")
            put(url, "CURRENT")

    day = f"{ACCOUNT}/vpcflowlogs/{REGION}/2026/07/01/"
    if sub == "extract":
        listing(positional[0])
        listing(positional[0], day)
        get(positional[0], day + f"{ACCOUNT}_vpcflowlogs_{REGION}_fl-0abc_20260701T0000Z_1a2b.log.gz")
        put(opts["--state-out"][0], "part-0001-of-0090.state")
    elif sub == "merge":
        listing(positional[0])
        get(positional[0], "part-0001-of-0090.state")
        put(opts["--state-out"][0])
    elif sub in ("train", "hunt"):
        get(opts["--state"][0])
        if "--model" in opts:
            model(opts["--model"][0], write=sub == "train" and "--no-promote" not in opts)
            if sub == "train" and "--no-promote" in opts:
                put(opts["--model"][0], "fh-0123456789abcdef/model.json.gz")
        if "--findings" in opts:
            put(opts["--findings"][0])
        if "--gate-labels" in opts:
            get(opts["--gate-labels"][0])
            listing(opts["--gate-source"][0])
            get(opts["--gate-source"][0], "x.log.gz")
    return calls


# ---------------------------------------------------------------- the spec's commands

def cli_help_flags():
    """Long flags of each command's --help, as quoted in docs/cli.md (kept equal to the binary)."""
    text = open(CLI_DOC).read()
    flags = {}
    for m in re.finditer(r"<!-- help: (\w+) -->\n```text\n(.*?)```", text, re.S):
        flags[m.group(1)] = set(re.findall(r"(--[a-z][a-z-]*)", m.group(2)))
    return flags


def expected_commands(stack, run, inp):
    """The argument lists docs/scale.md (and the lead's spec) give for one execution."""
    p = stack.params
    prefix = f"{p['FlowLogPrefix']}/" if p["FlowLogPrefix"] else ""
    source = f"s3://{p['FlowLogBucketName']}/{prefix}AWSLogs/"
    work = p["WorkBucketName"] or stack.ref("WorkBucket")
    parts = f"s3://{work}/runs/{run}/parts/"
    merged = f"s3://{work}/runs/{run}/merged.state"
    findings = f"s3://{work}/findings/{run}.jsonl"
    model = f"s3://{p['ModelBucketName']}/{p['ModelPrefix']}"
    feature = p["FeatureArgs"].split() if p["FeatureArgs"] else []
    n = inp["partitions"]
    jobs = [("extract", ["--log-format", "json", "extract", source, "--from", inp["from"], "--to", inp["to"],
                         "--partition", "1/1" if n == 1 else f"array/{n}", "--state-out", parts, *feature]),
            ("merge", ["--log-format", "json", "merge", parts, "--state-out", merged])]
    if inp["mode"] == "train":
        extra = []
        if inp.get("promote", True) is False:
            extra = ["--no-promote"]
        elif p["GateBucketName"]:
            extra = ["--gate-labels", f"s3://{p['GateBucketName']}/{p['GateLabelsKey']}",
                     "--gate-source", f"s3://{p['GateBucketName']}/{p['GateSourcePrefix']}"]
        jobs.append(("train", ["--log-format", "json", "train", "--state", merged, "--model", model, *feature, *extra]))
    else:
        extra = ["--model", model] if inp.get("model") else []
        jobs.append(("hunt", ["--log-format", "json", "hunt", "--state", merged, "--findings", findings,
                              *feature, *extra]))
    return jobs


# ---------------------------------------------------------------- executions in LocalStack

def localstack_engine():
    """A function running one execution in LocalStack's interpreter with Batch faked, or None."""
    try:
        import types
        # The interpreter imports the JSONata package installer, which this Python cannot
        # import (and a JSONPath definition never uses): a stub stands in for it.
        stub = types.ModuleType("localstack.services.stepfunctions.packages")
        stub.jpype_jsonata_package = None
        sys.modules.setdefault("localstack.services.stepfunctions.packages", stub)
        import logging
        logging.getLogger("localstack").setLevel(logging.CRITICAL)
        from localstack.aws.api.stepfunctions import HistoryEventType, TaskFailedEventDetails
        from localstack.services.stepfunctions.asl.component.common.error_name.failure_event import (
            FailureEvent, FailureEventException)
        from localstack.services.stepfunctions.asl.component.common.error_name.states_error_name import StatesErrorName
        from localstack.services.stepfunctions.asl.component.common.error_name.states_error_name_type import (
            StatesErrorNameType)
        from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (
            state_task_service_batch as batch)
        from localstack.services.stepfunctions.asl.eval.environment import Environment
        from localstack.services.stepfunctions.asl.eval.evaluation_details import AWSExecutionDetails
        from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails
        from localstack.services.stepfunctions.asl.eval.event.event_manager import EventHistoryContext
        from localstack.services.stepfunctions.asl.eval.program_state import ProgramEnded, ProgramError
        from localstack.services.stepfunctions.asl.eval.states import (ContextObjectData, ExecutionData,
                                                                        StateMachineData)
        from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser
        from localstack.services.stepfunctions.asl.static_analyser.static_analyser import StaticAnalyser
    except ImportError:
        return None

    # A job runs for `delay` seconds (so that concurrent periods overlap); `running` counts the
    # jobs submitted and not yet ended, `most` is the largest count seen.
    fake = {"outcomes": {}, "submitted": [], "delay": 0.0, "running": 0, "most": 0, "lock": threading.Lock()}

    def submit(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        with fake["lock"]:
            fake["submitted"].append(self.name)
            job_id = f"job-{len(fake['submitted']):04d}"
            fake["running"] += 1
            fake["most"] = max(fake["most"], fake["running"])
        env.stack.append({"JobId": job_id, "JobName": normalised_parameters.get("jobName"), "JobArn": job_id})

    def resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        submission = env.stack.pop()
        outcome = fake["outcomes"].get(self.name, 0)

        def resolve():
            time.sleep(fake["delay"])
            with fake["lock"]:
                fake["running"] -= 1
            if outcome == 0:
                return {"JobId": submission["JobId"], "Status": "SUCCEEDED", "Container": {"ExitCode": 0}}
            if isinstance(outcome, str):
                cause = outcome  # a raw Cause (not a job document)
            else:
                # The shape of a failed job as .sync reports it: its DescribeJobs document.
                cause = json.dumps({
                    "JobId": submission["JobId"], "JobName": submission["JobName"], "Status": "FAILED",
                    "StatusReason": "Essential container in task exited",
                    "Attempts": [{"Container": {"ExitCode": outcome, "LogStreamName": "merge/default/abc"}}],
                    "Container": {"Command": ["--log-format", "json"], "ExitCode": outcome,
                                  "LogStreamName": "merge/default/abc"}})
            raise FailureEventException(FailureEvent(
                env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    resource="submitJob.sync", resourceType="batch", error="States.TaskFailed", cause=cause))))
        return resolve

    batch.StateTaskServiceBatch._eval_service_task = submit
    batch.StateTaskServiceBatch._build_sync_resolver = resolver

    def run(definition, execution_name, execution_input, outcomes, delay=0.0):
        program, _ = AmazonStateLanguageParser.parse(definition)
        fake.update(outcomes=outcomes, submitted=[], delay=delay, running=0, most=0)
        env = Environment(
            aws_execution_details=AWSExecutionDetails(account=ACCOUNT, region=REGION,
                                                      role_arn=f"arn:aws:iam::{ACCOUNT}:role/sfn"),
            execution_type="STANDARD",
            context=ContextObjectData(
                Execution=ExecutionData(Id=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sm:{execution_name}",
                                        Input=copy.deepcopy(execution_input), Name=execution_name,
                                        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
                                        StartTime="2026-12-07T00:00:00.000Z"),
                StateMachine=StateMachineData(Id=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm", Name="sm")),
            event_history_context=EventHistoryContext.of_program_start(),
            cloud_watch_logging_session=None, activity_store={})
        program.eval(env)
        history = env.event_manager.get_event_history()
        by_id = {event["id"]: event for event in history}

        def origin(event):
            """The state a job was scheduled in and the index of its Map iteration (None
            outside a Map): the events before it in its own iteration, by previousEventId
            (concurrent iterations interleave in the history)."""
            state = index = None
            while event is not None and index is None:
                if state is None and "stateEnteredEventDetails" in event:
                    state = event["stateEnteredEventDetails"]["name"]
                if "mapIterationStartedEventDetails" in event:
                    index = event["mapIterationStartedEventDetails"]["index"]
                event = by_id.get(event.get("previousEventId"))
            return state, index

        jobs, path, output = [], [], None
        for event in history:
            succeeded = event.get("executionSucceededEventDetails")
            if succeeded:
                output = json.loads(succeeded["output"])
            details = event.get("stateEnteredEventDetails")
            if details:
                path.append(details["name"])
            scheduled = event.get("taskScheduledEventDetails")
            if scheduled:
                state, index = origin(event)
                jobs.append((state, json.loads(scheduled["parameters"]), index))
        state = env.program_state()
        result = {"jobs": jobs, "path": path, "most_running": fake["most"]}
        if isinstance(state, ProgramEnded):
            return dict(result, status="SUCCEEDED", output=output)
        if isinstance(state, ProgramError):
            error = state.error or {}
            return dict(result, status="FAILED", error=error.get("error"), cause=error.get("cause"))
        return dict(result, status=type(state).__name__)

    def analyse(definition):
        StaticAnalyser().analyse(definition)

    run.analyse = analyse
    return run


# ---------------------------------------------------------------- scenarios

BASE = {
    "FlowLogBucketName": "acme-flowlogs", "ModelBucketName": "acme-models", "ImageUri":
    f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/flowhound:0123456789ab", "VpcId": "vpc-0abc1234",
    "PrivateSubnets": ["subnet-0aaa1111", "subnet-0bbb2222"],
}
STACKS = {
    # Defaults: a created work bucket, no flow-log prefix, no gate, no extra flags.
    "plain": dict(BASE),
    # Everything optional set.
    "full": dict(BASE, FlowLogPrefix="org/flow", WorkBucketName="acme-work", ModelPrefix="",
                 FeatureArgs="--internal 2600:1f18:ab::/56 --external 192.168.77.0/24",
                 GateBucketName="acme-gate", GateLabelsKey="gate/labels.jsonl", GateSourcePrefix="gate/logs/",
                 ModelKmsKeyArn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
}
# Values a parameter's pattern must refuse: each would break the definition's JSON or split
# an argument.
REFUSED = {
    "FlowLogPrefix": ['a"b', "a b", "x/", "a\\b", "/x"],
    "FeatureArgs": ['--internal "10.0.0.0/8"', "--internal  10.0.0.0/8", "internal 10.0.0.0/8",
                    "--internal 10.0.0.0/8 "],
    "GateLabelsKey": ['a"b', "a b"],
    "GateSourcePrefix": ["a b/", 'a"/'],
    "ModelPrefix": ["models", 'a"/', "a b/"],
}
ACCEPTED = {
    "FlowLogPrefix": ["org/flow", "flow-logs_2026"],
    "FeatureArgs": ["--internal 2600:1f18:ab::/56", "--skip-corrupt --internal 10.9.0.0/16"],
    "ModelPrefix": ["", "models/", "team/models/"],
}
FROM, TO = "2026-06-01T00:00:00Z", "2026-08-30T00:00:00Z"


def inp(partitions, mode, **more):
    return {"from": FROM, "to": TO, "partitions": partitions, "mode": mode, **more}


def periods(n, days=3, start=1780272000):
    """n consecutive periods of `days` days from `start` (epoch seconds; 1780272000 is FROM),
    in RFC 3339 like FROM, the second one in epoch seconds (both are accepted)."""
    def stamp(i):
        t = start + i * days * 86400
        return str(t) if i == 1 else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return [{"from": stamp(i), "to": stamp(i + 1)} for i in range(n)]


def hunts(plist, partitions, **more):
    return {"periods": plist, "partitions": partitions, "mode": "hunt", **more}


P3 = periods(3)


# (stack, execution name, input, failing jobs {state: exit code, or a raw Cause}, expected
#  status, expected outcome (its beginning) or error)
SCENARIOS = [
    ("plain", "hunt-2026q3", inp(90, "hunt"), {}, "SUCCEEDED", "hunted"),
    ("plain", "exec-1", inp(90, "hunt", run="q3", model=True), {}, "SUCCEEDED", "hunted with the current model"),
    ("plain", "train-1", inp(30, "train"), {}, "SUCCEEDED", "trained and promoted"),
    ("full", "train-2", inp(5, "train"), {}, "SUCCEEDED", "trained and promoted"),
    ("full", "train-3", inp(5, "train"), {"Train": 3}, "SUCCEEDED", "trained, not promoted: the gate kept the current"),
    ("full", "train-4", inp(5, "train"), {"Train": 1}, "FAILED", "TrainFailed"),
    ("full", "train-5", inp(5, "train"), {"Train": "not a job document"}, "FAILED", "TrainFailed"),
    ("full", "train-6", inp(5, "train"), {"Train": '{"Status": "FAILED"}'}, "FAILED", "TrainFailed"),
    ("full", "cand-1", dict(inp(1, "train", promote=False), **{"from": "1780272000", "to": "1788048000"}), {},
     "SUCCEEDED", "trained, not promoted (--no-promote)"),
    ("full", "hunt-1", inp(2, "hunt"), {}, "SUCCEEDED", "hunted"),
    ("plain", "fail-extract", inp(90, "hunt"), {"Extract": 1}, "FAILED", "ExtractFailed"),
    ("plain", "fail-merge", inp(90, "train"), {"Merge": 2}, "FAILED", "MergeFailed"),
    ("plain", "fail-hunt-3", inp(3, "hunt"), {"Hunt": 3}, "FAILED", "HuntFailed"),
    ("full", "resume-1", inp(90, "hunt", run="q3", skipExtract=True), {}, "SUCCEEDED", "hunted"),
    # "concurrency" means nothing without periods.
    ("plain", "hunt-2", inp(3, "hunt", concurrency=4), {}, "SUCCEEDED", "hunted"),
    # Periods: each one's jobs are those of a run of that period alone, as run <run>/<i>.
    ("plain", "periods-1", hunts(P3, 2), {}, "SUCCEEDED", "hunted"),
    ("full", "periods-2", hunts(P3, 2, run="q3", model=True, concurrency=2), {}, "SUCCEEDED",
     "hunted with the current model"),
    ("full", "periods-3", hunts(P3, 2, concurrency=3), {}, "SUCCEEDED", "hunted"),
    ("plain", "periods-4", hunts(P3[:1], 1), {}, "SUCCEEDED", "hunted"),
    # 90 days (FROM to TO) as 30 periods of 3 days, 4 at once, in one execution.
    ("plain", "periods-5", hunts(periods(30), 3, concurrency=4), {}, "SUCCEEDED", "hunted"),
    ("full", "periods-6", hunts(periods(100, days=1), 1, run="q3", skipExtract=True), {}, "SUCCEEDED", "hunted"),
    ("full", "periods-7", hunts(P3, 2, run="q3", skipExtract=True), {}, "SUCCEEDED", "hunted"),
    # Period 1 of q3 alone, as the run it was: the same keys as in periods-7.
    ("full", "periods-8", dict(inp(2, "hunt", run="q3/1", skipExtract=True), **P3[1]), {}, "SUCCEEDED", "hunted"),
    ("plain", "periods-fail-1", hunts(P3, 2), {"Merge": 1}, "FAILED", "MergeFailed"),
    ("plain", "periods-fail-2", hunts(P3, 2), {"Hunt": 3}, "FAILED", "HuntFailed"),
    ("full", "periods-fail-3", hunts(P3, 5), {"Extract": 1}, "FAILED", "ExtractFailed"),
]
INVALID_INPUTS = [
    {}, {"from": FROM, "to": TO, "partitions": 90}, inp(0, "hunt"), inp(10001, "hunt"), inp("90", "hunt"),
    inp(9, "score"), dict(inp(9, "hunt"), **{"from": "2026-06-01 00:00"}), dict(inp(9, "hunt"), to=""),
    inp(9, "hunt", run="a b"), inp(9, "hunt", run=""), inp(9, "train", promote="no"),
    dict(inp(9, "hunt"), **{"from": 1780272000}), inp(9, "hunt", skipExtract="yes"),
    inp(9, "hunt", concurrency=0), inp(9, "hunt", concurrency="2"),
    # Periods: a hunt only, instead of from and to, 1 to 100 of {"from", "to"} as from and to.
    {"periods": P3, "partitions": 2, "mode": "train"}, dict(inp(2, "hunt"), periods=P3),
    dict(hunts(P3, 2), **{"from": FROM}), dict(hunts(P3, 2), to=TO), hunts([], 2), hunts(None, 2),
    hunts("2026-06-01T00:00:00Z/2026-06-04T00:00:00Z", 2), hunts(P3[0], 2), hunts(periods(101, days=1), 2),
    hunts(P3 + [{"from": FROM}], 2), hunts(P3 + [{"to": TO}], 2), hunts([{"from": "2026-06-01 00:00", "to": TO}], 2),
    hunts([{"from": FROM, "to": ""}], 2), hunts([{"from": 1780272000, "to": "1780531200"}], 2), hunts(P3 + ["x"], 2),
    hunts([None], 2), hunts([[FROM, TO]], 2), hunts(P3, 0), hunts(P3, 2, run="a b"), hunts(P3, 2, concurrency=0),
    hunts(P3, 2, concurrency=41), hunts(P3, 2, concurrency="2"),
]


def check_stack(t, template, stack_name, params, engine):
    """Renders one parameter set and checks the definition, the job definitions and the bucket.
    Returns (stack, rendered definition, parsed definition), or None if it is not JSON."""
    for name, value in params.items():
        spec = template["Parameters"][name]
        if not spec["Type"].startswith("List<"):
            t.check("sample parameters", pattern_ok(spec, value), f"{stack_name}: {name}={value!r} refused")
    stack = Stack(template, params)
    logical, rendered, used, given = render_definition(stack)
    t.check("substitutions given", used <= given, f"{stack_name}: no value for {sorted(used - given)}")
    t.check("substitutions used", given <= used, f"{stack_name}: unused {sorted(given - used)}")
    try:
        asl = json.loads(rendered)
    except ValueError as e:
        t.check("rendered JSON", False, f"{stack_name}: {e}")
        return None
    task_jobdefs = check_asl(t, asl, stack)
    t.check("extract job definition",
            task_jobdefs.get("Extract") == task_jobdefs.get("ExtractOne") == "ExtractJobDefinition",
            f"{stack_name}: {task_jobdefs}")
    t.check("merge job definition", {task_jobdefs.get(s) for s in ("Merge", "Train", "Hunt")} == {"MergeJobDefinition"},
            f"{stack_name}: {task_jobdefs}")
    check_job_definitions(t, stack)
    if stack.exists("WorkBucket"):
        # runs/ (re-computable feature states) expires; findings/ (the results) does not.
        rules = [r for r in stack.props("WorkBucket")["LifecycleConfiguration"]["Rules"]
                 if r.get("Status") == "Enabled" and "ExpirationInDays" in r]
        days = str(stack.params["WorkRetentionDays"])
        t.check("work bucket expires runs/",
                any(r.get("Prefix") == "runs/" and str(r["ExpirationInDays"]) == days for r in rules),
                f"{stack_name}: {rules}")
        t.check("work bucket keeps findings/",
                all(r.get("Prefix") and not "findings/".startswith(r["Prefix"]) for r in rules),
                f"{stack_name}: {rules}")
    logging_config = stack.props(logical).get("LoggingConfiguration", {})
    t.check("state machine logging", logging_config.get("Level") == "ERROR", f"{stack_name}: {logging_config}")
    if engine is not None:
        try:
            engine.analyse(rendered)  # the interpreter's own parser and static analyser
            t.check("localstack static analysis", True)
        except Exception as e:
            t.check("localstack static analysis", False, f"{stack_name}: {e}")
    return stack, rendered, asl


def check_state_machine_role(t, stack_name, stack, asl):
    """The state machine may submit to its queue and definitions only, watch and stop jobs,
    and manage the .sync rule."""
    iam = Iam(stack)
    role = "StateMachineRole"
    batch_arn = f"arn:aws:batch:{REGION}:{ACCOUNT}"
    for name, state in all_states(asl).items():
        if state.get("Type") == "Task":
            for res in (state["Parameters"]["JobQueue"], state["Parameters"]["JobDefinition"]):
                t.check("iam state machine submits", iam.allowed(role, "batch:SubmitJob", res),
                        f"{stack_name}: {name} {res}")
    for res in (f"{batch_arn}:job-queue/other", f"{batch_arn}:job-definition/other:1"):
        t.check("iam state machine submits nothing else", not iam.allowed(role, "batch:SubmitJob", res),
                f"{stack_name}: {res}")
    t.check("iam state machine watches", iam.allowed(role, "batch:DescribeJobs", "*"), stack_name)
    t.check("iam state machine stops", iam.allowed(role, "batch:TerminateJob", f"{batch_arn}:job/0f1e2d3c-aaaa"),
            stack_name)
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventsForBatchJobsRule"
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        t.check("iam managed rule", iam.allowed(role, action, rule), f"{stack_name}: {action}")
    other = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/other"
    t.check("iam no other rule", not iam.allowed(role, "events:PutRule", other), stack_name)


def check_job_role_limits(t, stack_name, stack):
    """What a job's role must NOT do: the other jobs' writes, other prefixes, deletes."""
    iam = Iam(stack)
    p = stack.params
    work = f"arn:aws:s3:::{p['WorkBucketName'] or stack.ref('WorkBucket')}"
    model = f"arn:aws:s3:::{p['ModelBucketName']}/{p['ModelPrefix']}CURRENT"
    flow_bucket = f"arn:aws:s3:::{p['FlowLogBucketName']}"
    flow = f"{flow_bucket}/{p['FlowLogPrefix'] + '/' if p['FlowLogPrefix'] else ''}AWSLogs/x.log.gz"
    part = f"{work}/runs/r/parts/part-0001-of-0002.state"
    denied = [
        ("ExtractJobRole", "s3:PutObject", model, {}),
        ("ExtractJobRole", "s3:PutObject", f"{work}/runs/r/merged.state", {}),
        ("ExtractJobRole", "s3:PutObject", f"{work}/findings/r.jsonl", {}),
        ("ExtractJobRole", "s3:PutObject", f"{work}/findings/r/0.jsonl", {}),
        ("ExtractJobRole", "s3:PutObject", f"{work}/runs/r/0/merged.state", {}),
        ("ExtractJobRole", "s3:ListBucket", flow_bucket, {"s3:prefix": "other/"}),
        ("ExtractJobRole", "s3:GetObject", f"{flow_bucket}/other/x.log.gz", {}),
        ("ExtractJobRole", "s3:DeleteObject", part, {}),
        ("MergeJobRole", "s3:GetObject", flow, {}),
        ("MergeJobRole", "s3:PutObject", part, {}),
        ("MergeJobRole", "s3:PutObject", f"{work}/other", {}),
        ("MergeJobRole", "s3:ListBucket", work, {"s3:prefix": "findings/"}),
        ("MergeJobRole", "s3:DeleteObject", model, {}),
    ]
    if p["ModelPrefix"]:
        denied.append(("MergeJobRole", "s3:PutObject", f"arn:aws:s3:::{p['ModelBucketName']}/elsewhere/CURRENT", {}))
    for role in ("ExtractJobRole", "MergeJobRole"):
        wild = [st.get("Sid") for st in iam.statements(role) if "*" in as_list(st["Resource"])]
        t.check("iam job roles name their resources", not wild, f"{stack_name}: {role} statements on *: {wild}")
    for role, action, resource, context in denied:
        t.check("iam job may not", not iam.allowed(role, action, resource, context),
                f"{stack_name}: {role} may {action} {resource} {context}")


def check_execution(t, engine, stacks, help_flags, scenario):
    """Runs one scenario: its status and outcome, the jobs submitted and their arguments, and
    that each job's role may make the S3 calls its command needs. With "periods", each
    period's jobs (told apart by their Map iteration) are those of a run of that period alone,
    named <run>/<i>; a failure is expected in period 0 (scenarios that fail run one period
    at a time), after which no other period starts."""
    stack_name, run_name, inp, outcomes, want_status, want = scenario
    stack, rendered, _ = stacks[stack_name]
    label = f"{stack_name}/{run_name}"
    periods = inp.get("periods")
    concurrency = inp.get("concurrency", 1)
    # With several periods at once, each job lasts a little, so that running periods overlap.
    delay = 0.1 if periods and concurrency > 1 else 0.0
    result = engine(rendered, run_name, inp, outcomes, delay)
    t.check("execution status", result["status"] == want_status, f"{label}: {result}")
    if want_status == result["status"] == "SUCCEEDED":
        outcome = result["output"].get("step", {}).get("outcome", "")
        t.check("execution outcome", outcome.startswith(want), f"{label}: outcome {outcome!r}, want {want!r}")
    elif want_status == result["status"] == "FAILED":
        t.check("execution error", result["error"] == want, f"{label}: error {result['error']!r}, want {want!r}")
        # The cause keeps the step's original error and its cause (the job document).
        t.check("execution cause", (result.get("cause") or "").startswith("States.TaskFailed: "),
                f"{label}: cause {(result.get('cause') or '')[:200]!r}")
    run = inp.get("run", run_name)
    base = {"promote": True, "model": False, **inp}
    if periods:
        expected = {i: expected_commands(stack, f"{run}/{i}", dict(base, **p)) for i, p in enumerate(periods)}
    else:
        expected = {0: expected_commands(stack, run, base)}
    if inp.get("skipExtract"):
        expected = {i: jobs[1:] for i, jobs in expected.items()}
    failed_at = next((s for s in ("Extract", "Merge", "Train", "Hunt") if s in outcomes), None)
    if failed_at:
        expected = {0: expected[0][:{"Extract": 1, "Merge": 2}.get(failed_at, 3)]}
    if failed_at and result["status"] == "FAILED":
        t.check("failed where expected", failed_at in result["path"] and result["path"][-1] == want,
                f"{label}: path {result['path']}")
    got = {}
    for state, params, index in result["jobs"]:
        got.setdefault(index, []).append((state, params))
    t.check("periods run", sorted(got) == sorted(expected),
            f"{label}: jobs of periods {sorted(got)}, want {sorted(expected)}")
    order = [index for _, _, index in result["jobs"]]
    if concurrency == 1:
        t.check("one period at a time", order == sorted(order), f"{label}: periods of the jobs in turn {order}")
    elif delay:
        # Each period has one job at a time: so as many jobs at once as periods at once.
        most = result["most_running"]
        t.check("concurrency honoured", most <= concurrency, f"{label}: {most} jobs at once, concurrency {concurrency}")
        t.check("periods at once", most >= 2, f"{label}: {most} job at a time, concurrency {concurrency}")
    work = stack.params["WorkBucketName"] or stack.ref("WorkBucket")
    if not periods and result["status"] == "SUCCEEDED":
        # One period: the run's own keys, and its fields at the top of the output.
        out = result["output"]
        have = (out.get("from"), out.get("to"), out.get("run"), out.get("plan", {}).get("findings"))
        t.check("one period output", have == (inp["from"], inp["to"], run, f"s3://{work}/findings/{run}.jsonl"),
                f"{label}: {out}")
    if periods and result["status"] == "SUCCEEDED":
        out = result["output"].get("periods", [])
        t.check("periods output", [(o.get("from"), o.get("to"), o.get("run"), o.get("plan", {}).get("findings"))
                                   for o in out] ==
                [(p["from"], p["to"], f"{run}/{i}", f"s3://{work}/findings/{run}/{i}.jsonl")
                 for i, p in enumerate(periods)], f"{label}: {out}")
    for index in sorted(set(got) & set(expected)):
        check_jobs(t, stack, help_flags, f"{label}[{index}]", inp, got[index], expected[index])


def check_jobs(t, stack, help_flags, label, inp, got, expected):
    """One period's jobs: the states that submitted them, their argument lists, array sizes,
    names, and that each job's role may make the S3 calls its command needs."""
    want_states = ["ExtractOne" if k == "extract" and inp["partitions"] == 1 else k.capitalize() for k, _ in expected]
    t.check("jobs submitted", [s for s, _ in got] == want_states, f"{label}: {[s for s, _ in got]}, want {want_states}")
    for (state, params), (kind, argv) in zip(got, expected):
        command = params.get("ContainerOverrides", {}).get("Command") or []
        t.check("command", command == argv, f"{label} {state}:\n  got  {command}\n  want {argv}")
        t.check("command starts with --log-format json", command[:3] == ["--log-format", "json", kind],
                f"{label} {state}: {command[:3]}")
        unknown = {a for a in command if a.startswith("--")} - help_flags.get(kind, set())
        t.check("command flags in --help", not unknown,
                f"{label} {state}: {sorted(unknown)} not in `flowhound {kind} --help` (docs/cli.md)")
        t.check("no empty argument", all(command), f"{label} {state}: {command}")
        array = params.get("ArrayProperties", {}).get("Size")
        want_array = inp["partitions"] if kind == "extract" and inp["partitions"] > 1 else None
        t.check("array size", array == want_array, f"{label} {state}: ArrayProperties.Size {array}, want {want_array}")
        t.check("job name", params.get("JobName") == f"{STACK}-{kind}", f"{label} {state}: {params.get('JobName')}")
        jobdefs = stack.resources("AWS::Batch::JobDefinition")
        jobdef = next(n for n in jobdefs if stack.ref(n) == params["JobDefinition"])
        role_arn = stack.props(jobdef)["ContainerProperties"]["JobRoleArn"]
        role = next(n for n in stack.resources("AWS::IAM::Role") if stack.getatt(n, "Arn") == role_arn)
        iam = Iam(stack)
        try:
            calls = needed_calls(command)
        except (KeyError, IndexError) as e:
            t.check("command has its required arguments", False, f"{label} {state}: {e} missing in {command}")
            calls = []
        for action, resource, context in calls:
            t.check("iam job may", iam.allowed(role, action, resource, context),
                    f"{label} {state}: {role} may not {action} {resource} {context}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=TEMPLATE)
    parser.add_argument("--venv", default=os.environ.get("FLOWHOUND_PY_VENV",
                                                         os.path.join(ROOT, "target", "check-extract-venv")))
    args = parser.parse_args()
    choose_python(args.venv)
    import harness

    t = harness.Tally()
    template = load_template(args.template)
    for name, values in REFUSED.items():
        for v in values:
            t.check("pattern refuses", not pattern_ok(template["Parameters"][name], v), f"{name} accepts {v!r}")
    for name, values in ACCEPTED.items():
        for v in values:
            t.check("pattern accepts", pattern_ok(template["Parameters"][name], v), f"{name} refuses {v!r}")
    help_flags = cli_help_flags()
    for sub in ("extract", "merge", "train", "hunt"):
        t.check("docs/cli.md help", sub in help_flags, f"no <!-- help: {sub} --> block in docs/cli.md")

    engine = localstack_engine()
    stacks = {}
    for stack_name, params in STACKS.items():
        checked = check_stack(t, template, stack_name, params, engine)
        if checked is not None:
            stacks[stack_name] = checked
            check_state_machine_role(t, stack_name, checked[0], checked[2])
            check_job_role_limits(t, stack_name, checked[0])

    if engine is not None:
        for scenario in SCENARIOS:
            if scenario[0] in stacks:
                check_execution(t, engine, stacks, help_flags, scenario)
        for stack_name, (_, rendered, _) in stacks.items():
            for inp in INVALID_INPUTS:
                result = engine(rendered, "bad-input", inp, {})
                t.check("invalid input refused",
                        result["status"] == "FAILED" and result.get("error") == "InvalidInput" and not result["jobs"],
                        f"{stack_name}: {inp} -> {result['status']} {result.get('error')}, {len(result['jobs'])} jobs")
    code = t.finish()
    if engine is None:
        print(f"== NOTE: the execution scenarios were skipped: LocalStack's States Language interpreter is not "
              f"importable in {sys.executable} (tests/run.sh installs it with the AWS emulator)")
    sys.exit(code)


if __name__ == "__main__":
    main()

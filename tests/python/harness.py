"""What the Python checks of tests/python share: their command line, the private venv
they re-run themselves in when a module is missing, the flowhound binary they drive, and
the `N passed, M failed` tally that tests/run.sh reads."""

import argparse
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def parse_args(description):
    """`--bin` and `--venv`, with the defaults every check uses."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bin", default=None, help="flowhound binary (default: target/release or target/debug)")
    parser.add_argument("--venv", default=os.environ.get("FLOWHOUND_PY_VENV",
                                                         os.path.join(ROOT, "target", "check-extract-venv")))
    return parser.parse_args()


def ensure_modules(required, venv):
    """Returns if `required` import here; else installs them into `venv` and re-runs the
    calling script inside it (once: a second failure is an error, not a loop). An entry is a
    pip requirement whose name is also the module's: `pandas`, or pinned, `matplotlib==3.11.2`."""
    try:
        for spec in required:
            __import__(spec.split("==")[0])
        return
    except ImportError:
        pass
    if os.environ.get("FLOWHOUND_CHECK_REEXEC"):
        sys.exit(f"modules {required} still missing in {sys.executable}")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *required], check=True
    )
    env = dict(os.environ, FLOWHOUND_CHECK_REEXEC="1")
    os.execve(python, [python, os.path.abspath(sys.argv[0]), *sys.argv[1:]], env)


def find_binary(given):
    """The binary named by --bin, else the newest kind of build in target/."""
    if given is not None:
        return given
    for candidate in ("release", "debug"):
        path = os.path.join(ROOT, "target", candidate, "flowhound")
        if os.path.exists(path):
            return path
    sys.exit("no flowhound binary: build it first or pass --bin")


class Tally:
    """Counts checks; prints each failure as it happens and the total at the end."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")

    def finish(self):
        """Prints the tally; returns the process exit code."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0

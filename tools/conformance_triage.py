"""Run a conformance test module and group its failures by cause.

    python tools/conformance_triage.py [-o triage.md] [pytest args...]

Default pytest args: ``tests/test_conformance_cpython.py``. Prints (or
writes) a Markdown list: one group per cause, each with the tests that hit
it. The cause is the exception type and the first line of its message; an
exception with no message (``NotImplementedError`` from an
``asyncio.AbstractEventLoop`` method the loop does not implement) is named
by the function that raised it. Run it with the Python where ioloop is
installed (``pip install .``); it prints the engine that ran and where ioloop
came from first. Pass ``IOLOOP_NO_EXTENSIONS=1`` in the environment for the
pure-Python engine.
"""

import argparse
import collections
import os
import re
import sys
import time

import pytest


def _cause(excinfo):
    exc = excinfo.value
    tname = type(exc).__name__
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, pytest.fail.Exception) and "Timeout" in first:
        return "pytest-timeout: " + first[:100]
    if not first:
        entry = excinfo.traceback[-1]
        where = os.path.basename(str(entry.path))
        return f"{tname} raised in {entry.name}() ({where})"
    first = re.sub(r"fd=\d+", "fd=N", first)  # group the same failure on different fds
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{tname}: {first}"


class _Collector:
    def __init__(self):
        self.causes = collections.defaultdict(list)
        self.skips = {}
        self.summary = ""

    def pytest_terminal_summary(self, terminalreporter):
        stats = terminalreporter.stats
        self.summary = ", ".join(f"{k} {len(stats[k])}" for k in
                                 ("passed", "failed", "error", "skipped") if stats.get(k))

    def pytest_runtest_logreport(self, report):
        name = report.nodeid.split("::", 1)[-1]
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skips[name] = reason
        if report.failed:
            excinfo = getattr(report, "_ioloop_excinfo", None)
            cause = _cause(excinfo) if excinfo is not None else report.longreprtext.strip().splitlines()[-1]
            tag = "" if report.when == "call" else f" [{report.when}]"
            self.causes[cause].append(name + tag)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None:
            report._ioloop_excinfo = call.excinfo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", help="write the Markdown here instead of stdout")
    args, rest = ap.parse_known_args(argv)
    if not rest:
        rest = ["tests/test_conformance_cpython.py"]
    import ioloop
    engine = (f"engine `{ioloop.implementation}` (ioloop from "
              f"{os.path.dirname(ioloop.__file__)})")
    print(f"conformance-triage: {engine}", flush=True)
    col = _Collector()
    t0 = time.monotonic()
    status = pytest.main(["-q", "-p", "no:cacheprovider", *rest], plugins=[col])
    elapsed = time.monotonic() - t0
    lines = [f"{engine}, Python {sys.version.split()[0]}, "
             f"{elapsed:.0f}s: {col.summary}", ""]
    for cause, tests in sorted(col.causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"- **{cause}** ({len(tests)}): " + ", ".join(f"`{t}`" for t in sorted(tests)))
    if col.skips:
        lines.append("")
        lines.append("Skipped:")
        for name, reason in sorted(col.skips.items()):
            lines.append(f"- `{name}`: {reason}")
    text = "\n".join(lines) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return status


if __name__ == "__main__":
    sys.exit(main())

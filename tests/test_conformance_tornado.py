"""Tornado's own test suite (``python -m tornado.test.runtests``, ~1500
tests) passes with ioloop as the asyncio event loop.

Runs ``tools/tornado_suite.py`` in a subprocess on the engine this pytest run
uses (the environment, including ``IOLOOP_NO_EXTENSIONS``, is inherited) and
checks its summary line: every test ran, none failed or errored, Tornado's
runner saw no stray log output or stderr, and the loops really came from
ioloop's policy.

Some of Tornado's tests allow a callback 0.1-0.2 s of wall-clock time; on a
machine with every core busy one of them can miss that on any loop. A test
that failed is therefore run once more on its own, and the run passes when
the few that failed (at most ``MAX_RERUN``) all pass then; they are reported
as a warning. A failure that repeats fails the test.
"""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("tornado.test.runtests")

import ioloop

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "tornado_suite.py"
# Stock asyncio takes ~70-110 s on this machine; a hang ends here.
LIMIT = 600
MAX_RERUN = 3


def run_suite(tmp_path, *test_ids):
    # EMULATION=1 is Tornado's own switch for slow machines: its HTTPS
    # request-timeout test then allows 0.5 s instead of 0.1 s for a TLS
    # handshake, which a busy 2-core machine misses on any loop (stock
    # asyncio included).
    env = dict(os.environ, EMULATION="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), *test_ids], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=LIMIT)
    m = re.search(r"^tornado-suite: .*$", proc.stdout, re.M)
    tail = proc.stdout[-4000:] + "\n--- stderr tail ---\n" + proc.stderr[-4000:]
    assert m, "no summary line\n" + tail
    summary = dict(kv.split("=", 1) for kv in m.group(0).split()[1:])
    failed = re.findall(r"^  (?:FAIL|ERROR) (\S+): ", proc.stdout, re.M)
    return summary, failed, proc.returncode, tail


@pytest.mark.timeout(2 * LIMIT + 60)
def test_tornado_suite_passes_on_ioloop(tmp_path):
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is not in this checkout")
    summary, failed, status, tail = run_suite(tmp_path)
    assert summary["loop"] == f"ioloop({ioloop.implementation})", summary
    assert int(summary["loops"]) > 0, summary
    assert int(summary["ran"]) > 1000, summary
    clean = summary["failures"] == "0" and summary["errors"] == "0" and status == 0
    if not clean:
        assert failed and len(failed) <= MAX_RERUN, tail
        again, failed_again, status_again, tail_again = run_suite(tmp_path, *failed)
        assert int(again["ran"]) == len(failed), tail_again
        assert not failed_again and status_again == 0, (
            "failed twice:\n" + tail + "\n--- the rerun ---\n" + tail_again)
        warnings.warn(f"Tornado tests that failed once and passed when run again: "
                      f"{', '.join(failed)}\n{tail}")

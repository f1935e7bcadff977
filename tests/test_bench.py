"""``python -m ioloop.bench`` runs end to end and writes well-formed JSON.

No test here asserts a timing: only that the benchmark runs, measures every
loop it was asked for, and reports positive numbers.
"""

import json
import math
import os
import subprocess
import sys

import pytest

LOOPS = ("ioloop", "asyncio")
WORKLOADS = ("callbacks", "timers")
BENCH_TIMEOUT = 300


def _positive_number(x):
    return (isinstance(x, (int, float)) and not isinstance(x, bool)
            and math.isfinite(x) and x > 0)


def _is_ratio(token):
    return token.endswith("x") and token[:-1].replace(".", "", 1).isdigit()


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "tmp.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ioloop.bench", "--quick",
         "--loops", ",".join(LOOPS), "--workloads", ",".join(WORKLOADS),
         "--json", str(out)],
        capture_output=True, text=True, timeout=BENCH_TIMEOUT,
        stdin=subprocess.DEVNULL, env=dict(os.environ))
    return proc, out


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_exits_zero(bench_run):
    proc, _ = bench_run
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_table_names_both_loops(bench_run):
    proc, _ = bench_run
    lines = proc.stdout.splitlines()
    # A table row: the loop's name in its own column and a ratio ("1.23x").
    for loop in LOOPS:
        rows = [line for line in lines
                if loop in line.split()[:2] and any(_is_ratio(tok) for tok in line.split())]
        assert len(rows) == len(WORKLOADS), f"table rows for {loop}: {rows}\n{proc.stdout}"
    assert "median ns/op" in proc.stdout
    assert "vs ioloop" in proc.stdout
    # Progress goes to stderr, not into the table.
    assert "round" in proc.stderr


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_json_well_formed(bench_run):
    proc, out = bench_run
    assert out.exists(), f"no JSON written; stderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    for section in ("meta", "peers", "samples", "summary"):
        assert isinstance(doc[section], dict), section
    meta = doc["meta"]
    assert meta["repeat"] >= 1
    assert meta["ioloop_implementation"] in ("cython", "python")
    for loop in LOOPS:
        assert doc["peers"][loop]["status"] == "ok"
        for workload in WORKLOADS:
            samples = doc["samples"][loop][workload]
            assert len(samples) == meta["repeat"], (loop, workload)
            for sample in samples:
                assert _positive_number(sample["elapsed_ns"]), sample
                assert _positive_number(sample["ns_per_op"]), sample
                assert sample["n"] == meta["n"][workload]
            summary = doc["summary"][loop][workload]
            for key in ("median_ns_per_op", "min_ns_per_op", "max_ns_per_op", "ratio_vs_ioloop"):
                assert _positive_number(summary[key]), (loop, workload, key)
            assert (summary["min_ns_per_op"] <= summary["median_ns_per_op"]
                    <= summary["max_ns_per_op"])
    # The timers workload checked its own work: every live timer fired,
    # no cancelled one did.
    for loop in LOOPS:
        for sample in doc["samples"][loop]["timers"]:
            checks = sample["checks"]
            assert checks["fired"] == checks["live"] > 0
            assert checks["cancelled_fired"] == 0

"""``python -m ioloop.bench`` runs end to end and writes well-formed JSON.

No test here asserts a timing: only that the benchmark runs, measures every
loop it was asked for (plus the no-loop floor), reports positive numbers in
the right units, reports a missing peer as skipped rather than as an error,
and that the pyperf files it writes load in pyperf.
"""

import json
import math
import os
import subprocess
import sys

import pytest

LOOPS = ("ioloop", "asyncio")
# One plain workload, two fd workloads (pingpong, and echo with its load
# generator in a separate process) and memory.
WORKLOADS = ("callbacks", "pingpong", "echo", "memory")
REPEAT = 2
MISSING = "uvloop"   # hidden behind a module that fails to import
BENCH_TIMEOUT = 240


def _positive_number(x):
    return (isinstance(x, (int, float)) and not isinstance(x, bool)
            and math.isfinite(x) and x > 0)


def _is_ratio(token):
    return token.endswith("x") and token[:-1].replace(".", "", 1).isdigit()


def _table_lines(stdout):
    """The lines of the results table: from its header row to the first
    blank line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("workload "))
    table = []
    for line in lines[start:]:
        if not line.strip():
            break
        table.append(line)
    return table


def _run(args, env=None, timeout=BENCH_TIMEOUT):
    return subprocess.run([sys.executable, "-m", "ioloop.bench"] + args,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env or dict(os.environ))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench.json"
    pyperf_dir = tmp / "pyperf"
    # A peer that is not installed: a module of its name that fails to import.
    shadow = tmp / "shadow"
    shadow.mkdir()
    (shadow / f"{MISSING}.py").write_text("raise ImportError('hidden by test_bench')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(shadow)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = _run(["--quick", "--repeat", str(REPEAT),
                 "--loops", ",".join(LOOPS + (MISSING,)), "--workloads", ",".join(WORKLOADS),
                 "--json", str(out), "--pyperf-dir", str(pyperf_dir)], env=env)
    return proc, out, pyperf_dir


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_exits_zero(bench_run):
    proc, _, _ = bench_run
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_table(bench_run):
    proc, _, _ = bench_run
    lines = _table_lines(proc.stdout)
    # A table row: the loop's name in its own column and a ratio ("1.23x").
    for loop in LOOPS + ("floor",):
        rows = [line for line in lines
                if loop in line.split()[:2] and any(_is_ratio(tok) for tok in line.split())]
        assert len(rows) == len(WORKLOADS), f"table rows for {loop}: {rows}\n{proc.stdout}"
    assert "median" in proc.stdout and "vs ioloop" in proc.stdout
    assert "req/s" in proc.stdout          # echo
    assert " B " in proc.stdout or " B\n" in proc.stdout   # memory, bytes per timer
    # The missing peer: named as skipped in the header and in every workload.
    skipped = [line for line in lines if MISSING in line and "skipped" in line]
    assert len(skipped) == len(WORKLOADS), proc.stdout
    assert any(MISSING in line and "skipped" in line
               for line in proc.stdout.split("workload ")[0].splitlines()), proc.stdout
    # The header names the harness and each peer's version.
    assert "harness :" in proc.stdout and "python  :" in proc.stdout
    # Progress goes to stderr, not into the table.
    assert "round" in proc.stderr


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_json_well_formed(bench_run):
    proc, out, _ = bench_run
    assert out.exists(), f"no JSON written; stderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    for section in ("meta", "peers", "samples", "summary"):
        assert isinstance(doc[section], dict), section
    meta = doc["meta"]
    assert meta["repeat"] == REPEAT
    assert meta["ioloop_implementation"] in ("cython", "python")
    assert meta["harness"] in ("pyperf", "builtin")
    assert doc["peers"][MISSING]["status"] == "skipped"
    assert MISSING not in doc["samples"]
    for loop in LOOPS + ("floor",):
        assert doc["peers"][loop]["status"] == "ok"
        for workload in WORKLOADS:
            samples = doc["samples"][loop][workload]
            assert len(samples) == meta["repeats"][workload] == REPEAT, (loop, workload)
            for sample in samples:
                assert sample["n"] == meta["n"][workload]
                assert sample["values"] and all(_positive_number(v) for v in sample["values"])
            s = doc["summary"][loop][workload]
            for key in ("median", "min", "max", "ratio_vs_ioloop", "ratio_vs_floor"):
                assert _positive_number(s[key]), (loop, workload, key, s)
            assert s["min"] <= s["median"] <= s["max"]
            per_process = 1 if workload == "memory" else meta["values_per_process"]
            assert s["values"] == REPEAT * per_process
        summary = doc["summary"][loop]
        assert summary["callbacks"]["unit"] == "second"
        assert _positive_number(summary["callbacks"]["median_ns_per_op"])
        assert _positive_number(summary["pingpong"]["median_ns_per_op"])
        assert _positive_number(summary["echo"]["req_per_s"])
        assert _positive_number(summary["echo"]["server_cpu_ns_per_req"])
        assert summary["memory"]["unit"] == "byte"
        assert _positive_number(summary["memory"]["bytes_per_timer"])
    assert doc["summary"]["ioloop"]["callbacks"]["ratio_vs_ioloop"] == 1.0


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_pyperf_files(bench_run):
    proc, out, pyperf_dir = bench_run
    doc = json.loads(out.read_text())
    if doc["meta"]["harness"] != "pyperf":
        pytest.skip("pyperf not installed: the built-in harness ran")
    pyperf = pytest.importorskip("pyperf")
    for loop in LOOPS + ("floor",):
        suite = pyperf.BenchmarkSuite.load(str(pyperf_dir / f"{loop}.json"))
        assert sorted(suite.get_benchmark_names()) == sorted(WORKLOADS)
        assert suite.get_benchmark("memory").get_unit() == "byte"
        callbacks = suite.get_benchmark("callbacks")
        assert callbacks.get_nrun() == REPEAT
        assert callbacks.median() == pytest.approx(doc["summary"][loop]["callbacks"]["median"])


@pytest.mark.timeout(120)
def test_bench_without_pyperf_idle_and_threadsafe(tmp_path):
    """pyperf not importable: the built-in harness takes over by itself.
    Also the idle workload (RLIMIT_NOFILE handling, two rows and their
    ratio) and the threadsafe one."""
    out = tmp_path / "builtin.json"
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pyperf.py").write_text("raise ImportError('hidden by test_bench')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(shadow)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = _run(["--quick", "--repeat", "1", "--loops", "ioloop",
                 "--workloads", "idle,threadsafe", "--idle-fds", "200", "--json", str(out)],
                env=env, timeout=100)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["meta"]["harness"] == "builtin" and doc["pyperf"] == {}
    for loop in ("ioloop", "floor"):
        summary = doc["summary"][loop]
        assert _positive_number(summary["threadsafe"]["median_ns_per_op"])
        assert _positive_number(summary["idle-0"]["median_ns_per_op"])
        assert _positive_number(summary["idle-200"]["ratio_vs_idle0"])
    assert "200 idle fds" in proc.stdout
    assert "built-in" in proc.stdout and "pyperf not installed" in proc.stdout


def test_bench_rejects_unknown_names():
    proc = _run(["--loops", "nosuchloop"], timeout=60)
    assert proc.returncode == 2 and "nosuchloop" in proc.stderr
    proc = _run(["--workloads", "nosuchworkload"], timeout=60)
    assert proc.returncode == 2 and "nosuchworkload" in proc.stderr

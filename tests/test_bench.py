"""``python -m ioloop.bench`` runs end to end and writes well-formed JSON.

No test here asserts a timing: only that the benchmark runs, measures every
loop it was asked for (plus the no-loop floor) on the workloads that apply
to it, reports positive numbers in the right units and latency percentiles
in order, reports a missing peer or framework as skipped rather than as an
error, shows a (loop, workload) cell that fails as an error without stopping
the run, falls back to the Python echo load generator (and skips the C floor
and the application workloads) without a C compiler, that the pyperf files
and the chart it writes load, and that the C HTTP load generator checks
every response.
"""

import http.server
import importlib.resources
import importlib.util
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest

import ioloop

LOOPS = ("ioloop", "ioloop-asyncio", "asyncio")
# One plain workload, the fd workloads (pingpong, and the four echo servers
# under a load generator in a separate process) and memory.
ECHO = ("echo", "proto_echo", "stream_echo", "tornado_echo")
WORKLOADS = ("callbacks", "pingpong") + ECHO + ("memory",)
# The workloads on asyncio's server APIs do not run on the classic API.
APPLIES = {
    "ioloop": ("callbacks", "pingpong", "echo", "memory"),
    "ioloop-asyncio": WORKLOADS,
    "asyncio": WORKLOADS,
    "floor": WORKLOADS,
}
# Timer lateness: a latency row per loop (not the floor), in the latency
# table, not in the results table.
LATENESS_LOOPS = ("ioloop", "ioloop-asyncio", "asyncio")
# One worker process per cell, two timed values in it: every statistic has
# more than one value, at half the processes (each a fresh interpreter) of
# two rounds. Several rounds are covered by the failing-cell run.
REPEAT = 1
VALUES = 2
MISSING = "uvloop"   # made unimportable (see _hiding_env)
BENCH_TIMEOUT = 240
# What the package's "bench" extra adds: with none of it, the bench still runs.
OPTIONAL = ("tornado", "uvloop", "rloop", "pyperf", "uvicorn", "httptools", "aiohttp")
APP_WORKLOADS = ("uvicorn", "aiohttp", "aiohttp_64k", "httptools_proto", "tornado_http")
APP_LOOPS = ("ioloop-asyncio", "asyncio", "uvloop", "rloop")
MAX_WIDTH = 120

# A sitecustomize that makes the modules named in $BENCH_TEST_HIDE (and
# their submodules) fail to import as if they were not installed, in the
# bench and in every worker process it starts (they inherit PYTHONPATH).
HIDING_SITECUSTOMIZE = """
import os
import sys

_HIDDEN = tuple(filter(None, os.environ.get("BENCH_TEST_HIDE", "").split(",")))


class _Hide:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if any(name == h or name.startswith(h + ".") for h in _HIDDEN):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hide)
"""

# A peer whose create_server fails: an asyncio loop under rloop's name.
BROKEN_RLOOP = """
import asyncio

__version__ = "0-broken"


class BrokenLoop(asyncio.SelectorEventLoop):
    async def create_server(self, *args, **kwargs):
        raise NotImplementedError("create_server broken by test_bench")


def new_event_loop():
    return BrokenLoop()
"""


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


def _hiding_env(tmp_path, *hidden, shadow=None):
    """The environment for a bench run where ``hidden`` modules are not
    installed; ``shadow``: {module name: source} put first on the path."""
    site_dir = tmp_path / "hide-site"
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text(HIDING_SITECUSTOMIZE)
    for name, source in (shadow or {}).items():
        (site_dir / f"{name}.py").write_text(source)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site_dir)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["BENCH_TEST_HIDE"] = ",".join(hidden)
    return env


def _too_wide(stdout, width=MAX_WIDTH):
    """The output lines longer than ``width`` columns, but for a lone word
    (a long path is never broken)."""
    return [line for line in stdout.splitlines() if len(line) > width and len(line.split()) > 1]


def _run(args, env=None, timeout=BENCH_TIMEOUT):
    return subprocess.run([sys.executable, "-m", "ioloop.bench"] + args,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env or dict(os.environ))


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench.json"
    pyperf_dir = tmp / "pyperf"
    env = _hiding_env(tmp, MISSING)
    proc = _run(["--quick", "--repeat", str(REPEAT), "--values", str(VALUES), "--warmups", "0",
                 "--echo-duration", "0.1",
                 "--loops", ",".join(LOOPS + (MISSING,)),
                 "--workloads", ",".join(WORKLOADS + ("lateness",)),
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
        assert len(rows) == len(APPLIES[loop]), f"table rows for {loop}: {rows}\n{proc.stdout}"
    assert "median" in proc.stdout and "vs ioloop" in proc.stdout
    # Every echo workload has a section with requests per second.
    for workload in ECHO:
        section = [line for line in lines if line.startswith(workload + " ")]
        assert len(section) == 1 and "req/s" in section[0], proc.stdout
    assert " B " in proc.stdout or " B\n" in proc.stdout   # memory, bytes per timer
    # The missing peer: named as skipped in the header and in every workload
    # (all of them apply to it).
    skipped = [line for line in lines if MISSING in line and "skipped" in line]
    assert len(skipped) == len(WORKLOADS), proc.stdout
    assert any(MISSING in line and "skipped" in line
               for line in proc.stdout.split("workload ")[0].splitlines()), proc.stdout
    # The header names the harness, each peer's version and the engine that
    # the ioloop rows ran: the compiled one, or the pure-Python one only
    # when IOLOOP_NO_EXTENSIONS=1 asked for it (the suite's second run).
    assert "harness :" in proc.stdout and "python  :" in proc.stdout
    engine = ("compiled engine (_core." if ioloop.implementation == "cython"
              else "pure-Python engine, IOLOOP_NO_EXTENSIONS=1")
    assert f"ioloop  : {ioloop.__version__}, {engine}" in proc.stdout, proc.stdout
    # The echo load generator and the floor are described.
    flat = " ".join(proc.stdout.split())    # the text, unwrapped
    assert "echo    :" in proc.stdout and "100 connections" in flat
    assert "load generator" in flat and "floor:" in flat
    # Progress goes to stderr, not into the table.
    assert "round" in proc.stderr
    # The echo servers' CPU figures: a table of their own, a row per echo
    # row that was measured (not the floor rows that repeat the echo one).
    echo_table = proc.stdout.split("echo servers:")[1].split("\n\n")[0].splitlines()[3:]
    assert len(echo_table) == 4 + 2 * 3, proc.stdout
    assert all("us/req" in line and line.count("%") == 2 for line in echo_table), echo_table
    # The latency table: timer lateness on every loop (no floor), then the
    # echo round trips (the C floor's once, under the first echo workload).
    latency = proc.stdout.split("\nlatency: percentiles")[1].split("\n\n")[0].splitlines()[3:]
    label = None
    rows = {}
    for line in latency:
        if line.startswith("["):
            break   # the footnotes
        if not line.startswith(" "):
            label = line[:line.index("  ")]
        rows.setdefault(label, []).append(line)
    assert len(rows["timer lateness"]) == len(LATENESS_LOOPS), proc.stdout
    assert len(rows["echo rtt"]) == 1 + len(LOOPS), proc.stdout
    for workload in ECHO[1:]:
        assert len(rows[f"{workload} rtt"]) == len(LOOPS) - 1, proc.stdout   # not "ioloop"


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_output_fits_in_120_columns(bench_run):
    proc, _, _ = bench_run
    assert not _too_wide(proc.stdout), proc.stdout


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_json_well_formed(bench_run):
    proc, out, _ = bench_run
    assert out.exists(), f"no JSON written; stderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    for section in ("meta", "peers", "samples", "summary"):
        assert isinstance(doc[section], dict), section
    meta = doc["meta"]
    assert meta["repeat"] == REPEAT and meta["values_per_process"] == VALUES
    assert meta["ioloop_implementation"] in ("cython", "python")
    assert meta["harness"] in ("pyperf", "builtin")
    assert doc["peers"][MISSING]["status"] == "skipped"
    assert MISSING not in doc["samples"]
    echo = meta["echo"]
    assert echo["conns"] == 100 and echo["size"] == 64 and echo["depth"] == 1
    assert echo["generator"] in ("c", "python")
    assert echo["generator"] == "c" or not echo["c_build"]["ok"]
    for loop in LOOPS + ("floor",):
        assert doc["peers"][loop]["status"] == "ok"
        measured = APPLIES[loop] + (("lateness",) if loop in LATENESS_LOOPS else ())
        assert sorted(doc["summary"][loop]) == sorted(measured), loop
        for workload in APPLIES[loop]:
            s = doc["summary"][loop][workload]
            for key in ("median", "min", "max", "ratio_vs_ioloop", "ratio_vs_floor"):
                assert _positive_number(s[key]), (loop, workload, key, s)
            assert s["min"] <= s["median"] <= s["max"]
            per_process = 1 if workload == "memory" else meta["values_per_process"]
            assert s["values"] == REPEAT * per_process
            if s.get("shared_from"):
                # The floor of every echo workload: one C server, measured
                # under the first echo workload only.
                assert loop == "floor" and workload in ECHO[1:], (loop, workload)
                assert s["shared_from"] == "echo"
                assert workload not in doc["samples"][loop]
                continue
            samples = doc["samples"][loop][workload]
            assert len(samples) == meta["repeats"][workload] == REPEAT, (loop, workload)
            for sample in samples:
                assert sample["n"] == meta["n"][workload]
                assert sample["values"] and all(_positive_number(v) for v in sample["values"])
            if workload in ECHO:
                assert _positive_number(s["req_per_s"]) and s["duration_ms"] == s["n"]
                assert s["req_per_s"] == pytest.approx(1 / s["median"])
                for key in ("server_cpu_ns_per_req", "server_cpu_share",
                            "load_generator_cpu_share"):
                    assert _positive_number(s[key]), (loop, workload, key, s)
                assert s["generator"] == echo["generator"] and s["depth"] == 1
                for sample in samples:
                    extra = sample["extra"]
                    assert len(extra["requests"]) == len(sample["values"])
                    assert all(isinstance(r, int) and r > 0 for r in extra["requests"])
                    assert extra["server"] == ("c" if loop == "floor" else workload)
        summary = doc["summary"][loop]
        assert summary["callbacks"]["unit"] == "second"
        assert _positive_number(summary["callbacks"]["median_ns_per_op"])
        assert _positive_number(summary["pingpong"]["median_ns_per_op"])
        assert summary["memory"]["unit"] == "byte"
        assert _positive_number(summary["memory"]["bytes_per_timer"])
    for loop in LATENESS_LOOPS:
        s = doc["summary"][loop]["lateness"]
        lat = s["latency"]
        assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
        assert lat["p99_min"] <= lat["p99"] <= lat["p99_max"]
        assert lat["count"] == REPEAT * meta["values_per_process"] * meta["n"]["lateness"]
        assert s["median"] * 1e9 == pytest.approx(lat["p99"])
        for sample in doc["samples"][loop]["lateness"]:
            assert all(b > 0 for b in sample["extra"]["bounces"])  # the I/O load ran
    assert "lateness" not in doc["summary"]["floor"]
    # The echo round trips, from the C generator's histogram (every loop).
    if doc["meta"]["echo"]["generator"] == "c":
        for loop in LOOPS + ("floor",):
            lat = doc["summary"][loop]["echo"]["latency"]
            assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], (loop, lat)
            # Every reply of the window, each run: more than the requests
            # counted in it (the ones in flight at its end come in later).
            assert lat["count"] >= sum(r for smp in doc["samples"][loop]["echo"]
                                       for r in smp["extra"]["requests"])
    assert doc["summary"]["ioloop"]["callbacks"]["ratio_vs_ioloop"] == 1.0
    # The asyncio-API workloads compare with ioloop's asyncio face.
    for workload in ECHO[1:]:
        assert doc["summary"]["ioloop-asyncio"][workload]["ratio_vs_ioloop"] == 1.0
        assert doc["summary"]["asyncio"][workload]["baseline"] == "ioloop-asyncio"
    assert doc["summary"]["asyncio"]["echo"]["baseline"] == "ioloop"


@pytest.mark.timeout(BENCH_TIMEOUT + 60)
def test_bench_pyperf_files(bench_run):
    proc, out, pyperf_dir = bench_run
    doc = json.loads(out.read_text())
    if doc["meta"]["harness"] != "pyperf":
        pytest.skip("pyperf not installed: the built-in harness ran")
    pyperf = pytest.importorskip("pyperf")
    for loop in LOOPS + ("floor",):
        suite = pyperf.BenchmarkSuite.load(str(pyperf_dir / f"{loop}.json"))
        measured = [w for w in APPLIES[loop] if loop != "floor" or w not in ECHO[1:]]
        assert sorted(suite.get_benchmark_names()) == sorted(measured)
        assert suite.get_benchmark("memory").get_unit() == "byte"
        echo = suite.get_benchmark("echo")
        assert echo.get_nrun() == REPEAT
        assert echo.median() == pytest.approx(doc["summary"][loop]["echo"]["median"])
        callbacks = suite.get_benchmark("callbacks")
        assert callbacks.get_nrun() == REPEAT
        assert callbacks.median() == pytest.approx(doc["summary"][loop]["callbacks"]["median"])


@pytest.mark.timeout(120)
def test_bench_without_pyperf_idle_and_threadsafe(tmp_path):
    """pyperf not importable: the built-in harness takes over by itself.
    Also the idle workload (RLIMIT_NOFILE handling, two rows and their
    ratio) and the threadsafe one; and, with no C compiler on PATH, the echo
    workload on the Python load generator with its C floor skipped."""
    out = tmp_path / "builtin.json"
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = _hiding_env(tmp_path, "pyperf")
    env["PATH"] = str(empty)       # no gcc, no cc
    env.pop("CC", None)
    proc = _run(["--quick", "--repeat", "1", "--loops", "ioloop",
                 "--workloads", "idle,threadsafe,echo", "--idle-fds", "200",
                 "--echo-duration", "0.1", "--json", str(out), "--wide"], env=env, timeout=100)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["meta"]["harness"] == "builtin" and doc["pyperf"] == {}
    for loop in ("ioloop", "floor"):
        summary = doc["summary"][loop]
        assert _positive_number(summary["threadsafe"]["median_ns_per_op"])
        assert _positive_number(summary["idle-0"]["median_ns_per_op"])
        assert _positive_number(summary["idle-200"]["ratio_vs_idle0"])
    flat = " ".join(proc.stdout.split())    # the text, unwrapped
    assert "200 idle fds" in flat
    assert "built-in" in flat and "pyperf not installed" in flat
    # Echo without a C compiler.
    assert doc["meta"]["echo"]["generator"] == "python"
    assert not doc["meta"]["echo"]["c_build"]["ok"]
    assert doc["meta"]["n"]["echo"] == 100
    echo = doc["summary"]["ioloop"]["echo"]
    assert echo["generator"] == "python" and _positive_number(echo["req_per_s"])
    assert "echo" not in doc["summary"]["floor"]
    assert [(s["loop"], s["workload"]) for s in doc["skipped"]] == [("floor", "echo")]
    assert "Python load generator" in flat
    floor_row = [line for line in _table_lines(proc.stdout)
                 if line.split()[:2] == ["echo", "floor"]]
    assert len(floor_row) == 1 and "skipped" in floor_row[0], proc.stdout
    # --wide: the echo servers' CPU figures stay on their rows.
    ioloop_row = [line for line in _table_lines(proc.stdout) if line.split()[:1] == ["ioloop"]
                  and "req/s" in line]
    assert len(ioloop_row) == 1 and "server CPU" in ioloop_row[0], proc.stdout
    assert "echo servers:" not in proc.stdout


@pytest.mark.timeout(120)
def test_bench_failing_cell_does_not_stop_the_run(tmp_path):
    """A (loop, workload) cell whose worker fails is an ERROR cell and an
    entry in the errors; every other cell is still measured."""
    out = tmp_path / "broken.json"
    env = _hiding_env(tmp_path, shadow={"rloop": BROKEN_RLOOP})
    proc = _run(["--quick", "--repeat", "2", "--warmups", "0", "--no-floor",
                 "--loops", "asyncio,rloop", "--workloads", "proto_echo,echo",
                 "--echo-duration", "0.1",
                 "--json", str(out)], env=env, timeout=100)
    assert proc.returncode == 1, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    # Failed once, not retried in round 2.
    assert [(e["loop"], e["workload"], e["round"]) for e in doc["errors"]] == [
        ("rloop", "proto_echo", 0)]
    assert "create_server broken by test_bench" in doc["errors"][0]["message"]
    assert sorted(doc["summary"]["asyncio"]) == ["echo", "proto_echo"]
    assert sorted(doc["summary"]["rloop"]) == ["echo"]
    assert doc["summary"]["rloop"]["echo"]["values"] == 2 * doc["meta"]["values_per_process"]
    rows = [line for line in _table_lines(proc.stdout) if "rloop" in line.split()[:2]]
    assert len(rows) == 2 and sum("ERROR" in row for row in rows) == 1, proc.stdout
    assert "errors:" in proc.stdout and "total time" in proc.stdout


@pytest.mark.timeout(120)
def test_bench_with_no_optional_peer_installed(tmp_path):
    """Only the package itself: no Tornado, uvloop, rloop or pyperf. Each
    missing peer is a skipped row; tornado_echo, which needs Tornado on
    every loop (ioloop's too), is skipped whole with that reason; the
    built-in harness runs; the run exits 0."""
    out = tmp_path / "bare.json"
    env = _hiding_env(tmp_path, *OPTIONAL)
    peers = ("ioloop-asyncio", "asyncio", "uvloop", "rloop", "tornado")
    proc = _run(["--quick", "--repeat", "1", "--warmups", "0", "--n", "200",
                 "--loops", ",".join(peers), "--workloads", "callbacks,tornado_echo",
                 "--json", str(out)], env=env, timeout=100)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and doc["meta"]["harness"] == "builtin"
    measured = ("floor", "ioloop-asyncio", "asyncio")
    for peer in ("uvloop", "rloop", "tornado"):
        assert doc["peers"][peer]["status"] == "skipped", doc["peers"][peer]
        assert doc["peers"][peer]["reason"] == "not installed"
        assert peer not in doc["samples"]
    for loop in measured:
        assert _positive_number(doc["summary"][loop]["callbacks"]["median"]), loop
        assert "tornado_echo" not in doc["summary"][loop]
    assert sorted((s["loop"], s["workload"], s["reason"]) for s in doc["skipped"]) == sorted(
        (loop, "tornado_echo", "needs tornado, not installed")
        for loop in ("floor", "ioloop-asyncio", "asyncio"))
    # The table: every peer has a row in each workload that applies to it,
    # the missing ones and every tornado_echo row marked skipped.
    rows = {}
    workload = None
    for line in _table_lines(proc.stdout)[2:]:
        if not line.startswith(" "):
            workload = line.split()[0]
        rows.setdefault(workload, []).append(line)
    assert len(rows["callbacks"]) == 1 + len(peers), proc.stdout
    assert len(rows["tornado_echo"]) == 4 and all(
        "skipped (" in line for line in rows["tornado_echo"]), proc.stdout
    for line in rows["callbacks"]:
        loop = line.split()[1] if line.startswith("callbacks") else line.split()[0]
        assert ("skipped (not installed)" in line) == (loop not in measured), line
    assert "tornado_echo on floor, ioloop-asyncio, asyncio: needs tornado" in " ".join(
        proc.stdout.split())
    assert not _too_wide(proc.stdout), proc.stdout


@pytest.mark.timeout(120)
def test_bench_refuses_the_python_engine_unless_asked(tmp_path):
    """An ioloop whose compiled engine does not load (here: made
    unimportable) falls back to the pure-Python one; the bench does not
    measure that as "ioloop" unless --allow-python-engine (or
    IOLOOP_NO_EXTENSIONS=1) asks for it, and then it says so."""
    env = _hiding_env(tmp_path, "ioloop._core")
    env.pop("IOLOOP_NO_EXTENSIONS", None)
    env.pop("IOLOOP_REQUIRE_EXTENSIONS", None)
    args = ["--quick", "--repeat", "1", "--warmups", "0", "--n", "200", "--no-floor",
            "--loops", "ioloop,asyncio", "--workloads", "callbacks"]
    proc = _run(args, env=env, timeout=60)
    assert proc.returncode == 2, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    message = " ".join(proc.stderr.split())     # as one line, not wrapped
    assert "has no working compiled engine (ModuleNotFoundError: No module named " \
        "'ioloop._core')" in message, proc.stderr
    assert "--allow-python-engine" in message
    assert "workload" not in proc.stdout        # nothing measured
    proc = _run(args + ["--allow-python-engine"], env=env, timeout=60)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    flagged = "pure-Python engine: the compiled one did not load"
    flat = " ".join(proc.stdout.split())    # the text, unwrapped
    assert f"ioloop : {ioloop.__version__}, {flagged}" in flat, proc.stdout
    assert "WARNING : the ioloop rows measure the " + flagged in flat
    assert "WARNING: the ioloop and ioloop-asyncio rows ran the " + flagged in flat
    # The other loops do not need the compiled engine.
    proc = _run(args[:-4] + ["--loops", "asyncio", "--workloads", "callbacks"], env=env,
                timeout=60)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.timeout(120)
def test_bench_watchdog_variant(tmp_path):
    """--overhead adds ioloop-watchdog (ioloop with the blocked-loop
    watchdog on) and its references: it measures numbers, on the classic API
    and on the asyncio face, with the watchdog on (the worker reports the
    loop's threshold; the plain ioloop rows report it off), and the output
    labels it and states its cost against ioloop."""
    out = tmp_path / "overhead.json"
    proc = _run(["--quick", "--repeat", "1", "--values", "1", "--warmups", "0", "--n", "200",
                 "--no-floor", "--loops", "ioloop", "--overhead",
                 "--workloads", "chain,proto_echo", "--echo-duration", "0.05",
                 "--json", str(out)], timeout=100)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["meta"]["loops"] == ["ioloop", "ioloop-asyncio", "ioloop-watchdog"]
    watchdog = doc["summary"]["ioloop-watchdog"]
    assert _positive_number(watchdog["chain"]["median_ns_per_op"])
    assert watchdog["chain"]["baseline"] == "ioloop"
    assert _positive_number(watchdog["chain"]["ratio_vs_ioloop"])
    assert _positive_number(watchdog["proto_echo"]["req_per_s"])
    assert watchdog["proto_echo"]["baseline"] == "ioloop-asyncio"
    assert _positive_number(watchdog["proto_echo"]["ratio_vs_ioloop"])
    for loop, expected in (("ioloop-watchdog", 0.1), ("ioloop", None), ("ioloop-asyncio", None)):
        for samples in doc["samples"][loop].values():
            assert [smp["extra"]["blocking_threshold"] for smp in samples] == [expected], loop
    rows = [line.split() for line in _table_lines(proc.stdout)]
    assert [row[:2] for row in rows if "ioloop-watchdog" in row] == [
        ["ioloop-watchdog", "200"], ["ioloop-watchdog", "0.05"]], proc.stdout
    flat = " ".join(proc.stdout.split())
    assert "ioloop, watchdog on (set_blocking_threshold(0.1))" in flat, proc.stdout
    assert "Watchdog on / off, median: chain " in flat, proc.stdout
    assert not _too_wide(proc.stdout), _too_wide(proc.stdout)


def test_bench_watchdog_variant_is_opt_in():
    """The default loops leave the watchdog variant out; naming it works."""
    from ioloop.bench import cli, config
    assert "ioloop-watchdog" not in config.LOOPS
    assert "ioloop-watchdog" in config.PEERS
    default = cli._parser().parse_args([]).loops.split(",")
    assert "ioloop-watchdog" not in default and "ioloop" in default


def test_bench_rejects_unknown_names():
    proc = _run(["--loops", "nosuchloop"], timeout=60)
    assert proc.returncode == 2 and "nosuchloop" in proc.stderr
    proc = _run(["--workloads", "nosuchworkload"], timeout=60)
    assert proc.returncode == 2 and "nosuchworkload" in proc.stderr
    proc = _run(["--group", "nosuchgroup"], timeout=60)
    assert proc.returncode == 2 and "nosuchgroup" in proc.stderr


def test_bench_c_sources_ship_with_the_package():
    """The C programs the benchmark compiles at run time are package data:
    an installed ioloop has them (tests run on the installed package)."""
    from ioloop.bench import loadgen
    csrc = importlib.resources.files("ioloop.bench").joinpath("csrc")
    for source in list(loadgen._C_TOOLS.values()) + ["hist.h"]:
        assert csrc.joinpath(source).is_file(), source


@pytest.mark.timeout(120)
def test_bench_app_group_without_its_frameworks(tmp_path):
    """--group app with none of uvicorn, httptools, aiohttp and Tornado
    installed: every application workload is skipped with its reason, on
    every loop it applies to, nothing fails, the run exits 0."""
    out = tmp_path / "app-bare.json"
    env = _hiding_env(tmp_path, "uvicorn", "httptools", "aiohttp", "tornado")
    proc = _run(["--group", "app", "--quick", "--repeat", "1", "--no-floor",
                 "--loops", "ioloop-asyncio,asyncio", "--json", str(out)], env=env, timeout=100)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and doc["meta"]["workloads"] == list(APP_WORKLOADS)
    reasons = {(s["loop"], s["workload"]): s["reason"] for s in doc["skipped"]}
    needs = {"uvicorn": "uvicorn", "aiohttp": "aiohttp", "aiohttp_64k": "aiohttp",
             "httptools_proto": "httptools", "tornado_http": "tornado"}
    assert reasons == {(loop, w): f"needs {needs[w]}, not installed"
                       for w in APP_WORKLOADS for loop in ("ioloop-asyncio", "asyncio")}
    rows = [line for line in _table_lines(proc.stdout)[2:]]
    assert len(rows) == 2 * len(APP_WORKLOADS) and all("skipped (needs " in r for r in rows)
    assert not _too_wide(proc.stdout), proc.stdout


@pytest.mark.timeout(120)
def test_bench_app_without_a_c_compiler(tmp_path):
    """The HTTP load generator is C only: without a compiler the
    application workloads are skipped, saying why, and the run exits 0."""
    pytest.importorskip("tornado")
    out = tmp_path / "app-nocc.json"
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = _hiding_env(tmp_path)
    env["PATH"] = str(empty)
    env.pop("CC", None)
    proc = _run(["--workloads", "tornado_http", "--quick", "--repeat", "1", "--no-floor",
                 "--loops", "asyncio", "--json", str(out)], env=env, timeout=100)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert [(s["loop"], s["workload"]) for s in doc["skipped"]] == [("asyncio", "tornado_http")]
    assert doc["skipped"][0]["reason"].startswith("needs the C HTTP load generator: no C "
                                                  "compiler")


def _c_compiler_available():
    return any(shutil.which(name) for name in (os.environ.get("CC", "").split()[:1] or [None])
               + ["gcc", "cc"] if name)


@pytest.mark.timeout(180)
def test_bench_app_tornado_http_two_halves_and_chart(tmp_path):
    """One application workload end to end on two loops: saturation, then
    the fixed rate (the same on both loops: a share of the slower one's
    median req/s), latency percentiles in order, the open loop's count
    (every request due in the window, answered), the tables and the SVG
    chart."""
    pytest.importorskip("tornado")
    if not _c_compiler_available():
        pytest.skip("no C compiler: the HTTP load generator cannot be built")
    out = tmp_path / "app.json"
    chart = tmp_path / "chart.svg"
    loops = ("ioloop-asyncio", "asyncio")
    proc = _run(["--workloads", "tornado_http", "--quick", "--repeat", "1", "--warmups", "0",
                 "--app-duration", "0.2", "--loops", ",".join(loops), "--no-floor",
                 "--json", str(out), "--plot", str(chart)], timeout=150)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and doc["skipped"] == []
    app = doc["meta"]["app"]
    chosen = app["rates"]["tornado_http"]
    sat = {loop: doc["summary"][loop]["tornado_http"]["req_per_s"] for loop in loops}
    assert chosen["slowest"] == min(sat, key=sat.get)
    assert chosen["rate"] == pytest.approx(app["fraction"] * min(sat.values()), abs=0.1)
    for loop in loops:
        s = doc["summary"][loop]["tornado_http@rate"]
        assert s["rate"] == chosen["rate"]
        lat = s["latency"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
        for sample in doc["samples"][loop]["tornado_http@rate"]:
            for requests in sample["extra"]["requests"]:
                # Every request due in the 200 ms window, answered.
                assert abs(requests - chosen["rate"] * 0.2) <= 1, (requests, chosen)
        loop_type = doc["samples"][loop]["tornado_http"][0]["extra"]["loop_type"]
        assert loop_type.startswith("ioloop." if loop.startswith("ioloop") else "asyncio.")
    flat = " ".join(proc.stdout.split())
    assert f"tornado_http (fixed rate): {chosen['rate']:,.0f} requests/s on every loop" in flat
    assert "application servers at saturation" in flat and f"@{chosen['rate']:,.0f}/s" in flat
    assert not _too_wide(proc.stdout), proc.stdout
    svg = ET.parse(chart).getroot()
    assert svg.tag.endswith("svg")
    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect")
            if r.find("{http://www.w3.org/2000/svg}title") is not None]
    assert len(bars) == 2 * len(loops)      # req/s and latency, one bar per loop


# The application workloads on the frameworks the test extra does not
# install, and the modules each needs.
FRAMEWORK_WORKLOADS = {"uvicorn": ("uvicorn", "httptools"), "aiohttp_64k": ("aiohttp",),
                       "httptools_proto": ("httptools",)}


@pytest.mark.timeout(180)
def test_bench_app_frameworks_on_ioloop(tmp_path):
    """uvicorn (with httptools), aiohttp (its 64 KiB body) and the raw
    httptools Protocol server, each served by ioloop's asyncio face under
    the HTTP load generator: tiny runs of both halves, every response
    checked by the generator. Those whose framework is not installed are
    skipped by the bench, saying which module is missing."""
    installed = {w: all(importlib.util.find_spec(m) for m in mods)
                 for w, mods in FRAMEWORK_WORKLOADS.items()}
    if not any(installed.values()):
        pytest.skip("none of uvicorn, aiohttp and httptools is installed")
    if not _c_compiler_available():
        pytest.skip("no C compiler: the HTTP load generator cannot be built")
    out = tmp_path / "frameworks.json"
    proc = _run(["--workloads", ",".join(FRAMEWORK_WORKLOADS), "--quick", "--repeat", "1",
                 "--warmups", "0", "--app-duration", "0.1", "--loops", "ioloop-asyncio",
                 "--no-floor", "--json", str(out)], timeout=150)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    skipped = {s["workload"]: s["reason"] for s in doc["skipped"]}
    summary = doc["summary"].get("ioloop-asyncio", {})
    for workload, ok in installed.items():
        if not ok:
            assert skipped[workload].startswith("needs "), (workload, skipped)
            assert workload not in summary
            continue
        assert workload not in skipped, skipped
        assert _positive_number(summary[workload]["req_per_s"]), summary[workload]
        lat = summary[f"{workload}@rate"]["latency"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], (workload, lat)
        for half in (workload, f"{workload}@rate"):
            extra = doc["samples"]["ioloop-asyncio"][half][0]["extra"]
            assert extra["loop_type"].startswith("ioloop."), (half, extra["loop_type"])
            assert all(r > 0 for r in extra["requests"]), (half, extra)
    assert not _too_wide(proc.stdout), proc.stdout


class _Responder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the response the test set (keep-alive)."""
    protocol_version = "HTTP/1.1"
    response = b""

    def do_GET(self):
        self.wfile.write(self.response)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_load(tmp_path_factory):
    """The C HTTP load generator, built as the benchmark builds it."""
    if not _c_compiler_available():
        pytest.skip("no C compiler")
    from ioloop.bench import api
    build = api.build_c_tools(str(tmp_path_factory.mktemp("ctools")), ["http_load"])
    assert build["ok"], build
    return api.c_tool_path(build, "http_load")


def _load(http_load, response, commands, body_len=5):
    class Handler(_Responder):
        pass

    Handler.response = response
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        proc = subprocess.run([http_load, str(server.server_address[1]), "4", "/",
                               str(body_len), "5000"], input=commands, capture_output=True,
                              text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    return [json.loads(line) for line in proc.stdout.splitlines()
            if not line.startswith('{"event"')], proc.returncode


@pytest.mark.timeout(90)
def test_http_load_generator_counts_and_checks_responses(http_load):
    good = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    results, rc = _load(http_load, good, "sat 150 30\nrate 200 500 50\n")
    assert rc == 0, results
    sat, rate = results
    assert sat["mode"] == "sat" and sat["errors"] == 0 and sat["requests"] > 0
    assert rate["mode"] == "rate" and rate["errors"] == 0
    # The open loop: every request due in the 500 ms window (100 at
    # 200/s), each answered and recorded, latency from its due time.
    assert rate["due"] == rate["requests"] == rate["lat"]["count"] == 100, rate
    lat = rate["lat"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
    # Each wrong answer makes the run an error, counted.
    for response, message in (
            (b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\nhello", "status 500"),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhell", "a 4-byte body, expected 5"),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
             "Transfer-Encoding: chunked"),
            (b"HTTP/1.1 200 OK\r\n\r\nhello", "without Content-Length")):
        results, rc = _load(http_load, response, "sat 100 10\n")
        assert len(results) == 1 and message in results[0]["error"], (response, results)
        assert rc != 0 or results[0]["errors"] > 0, results

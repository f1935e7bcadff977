"""``python -m ioloop.bench`` runs end to end and writes well-formed JSON.

No test here asserts a timing: only that the benchmark runs, measures every
loop it was asked for (plus the no-loop floor) on the workloads that apply
to it, reports positive numbers in the right units, reports a missing peer
as skipped rather than as an error, shows a (loop, workload) cell that fails
as an error without stopping the run, falls back to the Python echo load
generator (and skips the C floor) without a C compiler, and that the pyperf
files it writes load in pyperf.
"""

import json
import math
import os
import subprocess
import sys

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
REPEAT = 2
MISSING = "uvloop"   # made unimportable (see _hiding_env)
BENCH_TIMEOUT = 240
# What the package's "bench" extra adds: with none of it, the bench still runs.
OPTIONAL = ("tornado", "uvloop", "rloop", "pyperf")
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
    proc = _run(["--quick", "--repeat", str(REPEAT), "--echo-duration", "0.1",
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
    assert meta["repeat"] == REPEAT
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
        assert sorted(doc["summary"][loop]) == sorted(APPLIES[loop]), loop
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
    proc = _run(["--quick", "--repeat", "2", "--no-floor", "--loops", "asyncio,rloop",
                 "--workloads", "proto_echo,echo", "--echo-duration", "0.1",
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


def test_bench_rejects_unknown_names():
    proc = _run(["--loops", "nosuchloop"], timeout=60)
    assert proc.returncode == 2 and "nosuchloop" in proc.stderr
    proc = _run(["--workloads", "nosuchworkload"], timeout=60)
    assert proc.returncode == 2 and "nosuchworkload" in proc.stderr

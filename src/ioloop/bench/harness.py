"""How a measurement is made and collected: the worker side of pyperf
(``pyperf.Runner`` in worker mode, or a built-in stand-in with the same
protocol), the worker subprocesses (their environment: the same ioloop as
the parent; their timeout; their JSON answer and its checks), and the
collection of every worker's values per (loop, benchmark), merged into
pyperf benchmarks when pyperf ran them."""


import contextlib
import io
import json
import math
import os
import site
import statistics
import subprocess
import sys

from .common import _tail
from .config import IMPORTED_IOLOOPS, WATCHDOG_THRESHOLD


def _pyperf():
    """The pyperf module, or None when it is not installed."""
    try:
        import pyperf
    except ImportError:
        return None
    return pyperf


class _Harness:
    """Runs a time function ``warmups + values`` times and returns one
    benchmark record: ``{"name", "unit", "n", "values", "warmups", "pyperf"}``,
    values per operation in the unit (seconds or bytes), ``pyperf`` the
    pyperf benchmark as JSON (or None).

    ``time_func(loops)`` returns the seconds taken by ``loops`` complete runs
    of the workload (pyperf's ``bench_time_func`` protocol); ``loops`` is
    always 1 here: each workload is a fixed amount of work."""

    def __init__(self, kind, warmups, values, metadata):
        self.kind = kind
        self.warmups = warmups
        self.values = values
        self.metadata = metadata
        self._runner = None
        if kind == "pyperf":
            pyperf = _pyperf()
            if pyperf is None:
                raise RuntimeError("--harness pyperf: pyperf is not installed")
            self._pyperf = pyperf
            self._runner = pyperf.Runner(values=values, warmups=warmups, processes=1,
                                         loops=1, metadata=dict(metadata))
            self._runner.parse_args(["--worker", "--loops", "1", "--warmups", str(warmups),
                                     "--values", str(values)])

    @staticmethod
    def _bench_json(bench):
        buf = io.StringIO()
        bench.dump(buf)
        return json.loads(buf.getvalue())

    def time(self, name, time_func, n):
        if self._runner is not None:
            # pyperf prints its one-line summary: keep stdout for our JSON.
            with contextlib.redirect_stdout(sys.stderr):
                bench = self._runner.bench_time_func(name, time_func, inner_loops=n)
            run = bench.get_runs()[-1]
            return {"name": name, "unit": "second", "n": n,
                    "values": list(bench.get_values()),
                    "warmups": [value for _loops, value in (run.warmups or ())],
                    "pyperf": self._bench_json(bench)}
        warm = [time_func(1) / n for _ in range(self.warmups)]
        values = [time_func(1) / n for _ in range(self.values)]
        return {"name": name, "unit": "second", "n": n, "values": values,
                "warmups": warm, "pyperf": None}

    def record(self, name, values, unit, n, duration, warmups=(), inner_loops=True,
               timing=True):
        """A benchmark measured by hand (memory, the timed echo runs):
        pyperf's Run and Benchmark carry it when pyperf is there, so its JSON
        and statistics are pyperf's. ``values`` are per operation already;
        ``duration``: seconds the measurement took (pyperf would otherwise
        take the raw values for seconds). ``inner_loops=False``: the values
        are not over a fixed count (pyperf's runs must agree on it).
        ``timing=False``: the values are not costs but a latency percentile
        of each run (signed: a timer can fire early), which pyperf does not
        carry; the record says ``"signed": True``."""
        doc = None
        if self._runner is not None and timing:
            pyperf = self._pyperf
            metadata = dict(self.metadata, name=name, unit=unit, loops=1, duration=duration)
            if inner_loops:
                metadata["inner_loops"] = n
            run = pyperf.Run(values, warmups=[(1, w) for w in warmups] or None,
                             metadata=metadata, collect_metadata=True)
            doc = self._bench_json(pyperf.Benchmark([run]))
        record = {"name": name, "unit": unit, "n": n, "values": list(values),
                  "warmups": list(warmups), "pyperf": doc}
        if not timing:
            record["signed"] = True
        return record


def _package_root():
    import ioloop
    return os.path.dirname(os.path.dirname(os.path.realpath(ioloop.__file__)))


def _site_dirs():
    dirs = []
    try:
        dirs.extend(site.getsitepackages())
    except AttributeError:  # pragma: no cover - virtualenv's old site.py
        pass
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:  # pragma: no cover
        pass
    return {os.path.realpath(d) for d in dirs}


def _worker_env(loop_name):
    """The environment of a worker: the parent's, with the directory this
    ioloop was imported from first on PYTHONPATH (unless it is a
    site-packages directory, found anyway), so the worker imports the same
    ioloop; ``ioloop-py`` forces the pure-Python twin."""
    env = dict(os.environ)
    root = _package_root()
    if root not in _site_dirs():
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if not parts or os.path.realpath(parts[0]) != root:
            env["PYTHONPATH"] = os.pathsep.join([root] + parts)
    if loop_name == "ioloop-py":
        env["IOLOOP_NO_EXTENSIONS"] = "1"
        env.pop("IOLOOP_REQUIRE_EXTENSIONS", None)
    return env


def _last_json_line(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result on stdout")


def _run_subprocess(args, loop_name, timeout):
    cmd = [sys.executable, "-m", "ioloop.bench"] + args
    try:
        proc = subprocess.run(cmd, env=_worker_env(loop_name), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr or ""
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
        raise RuntimeError(f"timed out after {timeout:g}s (hang?); stderr: {_tail(err)}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"exit status {proc.returncode}; stderr:\n{_tail(proc.stderr)}")
    try:
        return _last_json_line(proc.stdout)
    except ValueError as exc:
        raise RuntimeError(f"bad worker output ({exc}): {_tail(proc.stdout)}") from None


class _Collector:
    """Every worker's benchmarks, per (loop, benchmark name): the values
    (and the pyperf Benchmark they were merged into, when pyperf ran them)."""

    def __init__(self, use_pyperf):
        self.pyperf = _pyperf() if use_pyperf else None
        self.samples = {}       # loop -> name -> [sample]
        self.merged = {}        # (loop, name) -> pyperf.Benchmark

    def add(self, loop, result, rnd, position):
        for b in result["benchmarks"]:
            self.samples.setdefault(loop, {}).setdefault(b["name"], []).append({
                "round": rnd, "position": position, "n": b["n"], "unit": b["unit"],
                "values": b["values"], "warmups": b["warmups"],
                "extra": result.get("extra", {}),
                "gc_collections": result.get("gc_collections"),
            })
            if self.pyperf is not None and b.get("pyperf"):
                bench = self.pyperf.Benchmark.loads(json.dumps(b["pyperf"]))
                key = (loop, b["name"])
                if key in self.merged:
                    self.merged[key].add_runs(bench)
                else:
                    self.merged[key] = bench

    def stats(self, loop, name):
        samples = self.samples.get(loop, {}).get(name)
        if not samples:
            return None
        bench = self.merged.get((loop, name))
        if bench is not None:
            values = list(bench.get_values())
            median, mean = bench.median(), bench.mean()
            stdev = bench.stdev() if len(values) > 1 else 0.0
        else:
            values = [v for s in samples for v in s["values"]]
            median, mean = statistics.median(values), statistics.fmean(values)
            stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"unit": samples[0]["unit"], "n": samples[0]["n"], "median": median,
                "mean": mean, "stdev": stdev, "min": min(values), "max": max(values),
                "values": len(values), "processes": len(samples),
                "stats_by": "pyperf" if bench is not None else "statistics"}

    def suites(self):
        """loop -> pyperf.BenchmarkSuite of its merged benchmarks."""
        if self.pyperf is None:
            return {}
        per_loop = {}
        for (loop, _name), bench in self.merged.items():
            per_loop.setdefault(loop, []).append(bench)
        return {loop: self.pyperf.BenchmarkSuite(benches) for loop, benches in per_loop.items()}


def _harness_info(choice):
    pyperf = _pyperf()
    if choice == "builtin" or (choice == "auto" and pyperf is None):
        why = "" if choice == "builtin" else " (pyperf not installed: pip install pyperf)"
        return {"kind": "builtin", "pyperf_version": None,
                "text": "built-in (warm-ups and values timed with time.perf_counter_ns)" + why}
    if pyperf is None:
        raise SystemExit("--harness pyperf: pyperf is not installed")
    return {"kind": "pyperf", "pyperf_version": pyperf.__version__,
            "text": f"pyperf {pyperf.__version__} (Runner worker processes, bench_time_func, "
                    "loops=1, inner_loops=N; statistics of the merged runs)"}


def _check_result(result, name, workload, n, peer):
    """A worker's JSON must be for what was asked, with positive values,
    and an ioloop worker must have imported the ioloop (and engine) that the
    header names."""
    if result.get("loop") != name or result.get("workload") != workload or result.get("n") != n:
        raise ValueError(f"worker answered for something else: {result!r}")
    if not result.get("skipped"):
        benchmarks = result.get("benchmarks")
        if not benchmarks:
            raise ValueError("worker returned no benchmark")
        for b in benchmarks:
            values = b.get("values")
            if not values or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                     and (v > 0 or b.get("signed")) for v in values):
                raise ValueError(f"bad values for {b.get('name')}: {values!r}")
    if name in IMPORTED_IOLOOPS and not result.get("skipped"):
        expected = WATCHDOG_THRESHOLD if name == "ioloop-watchdog" else None
        got = (result.get("extra") or {}).get("blocking_threshold")
        if got != expected:
            raise ValueError(f"the loop's blocking threshold was {got!r}, expected {expected!r}")
    if name.startswith("ioloop"):
        ident = result.get("ioloop") or {}
        if ident.get("implementation") != peer.get("implementation"):
            raise ValueError(f"worker ran implementation {ident.get('implementation')!r}, "
                             f"expected {peer.get('implementation')!r}")
        if peer.get("file") and ident.get("file") != peer.get("file"):
            raise ValueError(f"worker imported {ident.get('file')}, expected {peer.get('file')}")
        if peer.get("engine_file") and ident.get("engine_file") != peer.get("engine_file"):
            raise ValueError(f"worker's engine is {ident.get('engine_file')}, expected "
                             f"{peer.get('engine_file')}")

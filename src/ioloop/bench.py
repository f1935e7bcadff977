"""Benchmarks: ioloop side by side with asyncio, uvloop, rloop and Tornado.

Run ``python -m ioloop.bench`` (``--help`` for the options). Every peer that
is installed is measured on the same workloads in one run:

``callbacks``   N no-op callbacks scheduled, then the loop runs them all.
``chain``       each callback schedules the next one, N times.
``timers``      N timers at a random delay in [0, 1 ms], every other one
                cancelled; the loop runs until the last live one fires.
``call_later``  N ``call_later(0, f)``, then the loop runs them all.

The peers: ``ioloop`` (``ioloop.IOLoop``, classic API: ``add_callback``,
``call_later``, ``remove_timeout``), ``ioloop-asyncio`` (the same loop
through its asyncio API: ``call_soon``, ``call_later``, ``handle.cancel()``),
``ioloop-py`` (the pure-Python twin, ``IOLOOP_NO_EXTENSIONS=1``),
``asyncio``, ``uvloop``, ``rloop`` and ``tornado`` (``tornado.ioloop.IOLoop``
on asyncio, classic API). A peer that is not installed is reported as
skipped.

How it measures: each (loop, workload) measurement runs in a fresh
subprocess (``python -m ioloop.bench --worker LOOP WORKLOAD N``) that builds
the loop, does an untimed warm-up run whose results are checked (every
callback ran, no cancelled timer fired), then times one run with
``time.perf_counter_ns`` and prints the result as JSON. The parent repeats
every measurement R times, interleaving the loops (their order is shuffled
for every round and workload) so that drift in the machine's speed spreads
over all of them, and reports the median ns per operation, the min-max
spread and the ratio to ``ioloop``. Nothing here is a stored result: every
number printed was measured in this run.
"""

import argparse
import gc
import json
import os
import platform
import random
import site
import statistics
import subprocess
import sys
import time

__all__ = ["main"]

WORKLOADS = ("callbacks", "chain", "timers", "call_later")
LOOPS = ("ioloop", "ioloop-asyncio", "ioloop-py", "asyncio", "uvloop", "rloop", "tornado")

# Operations per measurement: large enough that process start-up and loop
# construction (both untimed) and the clock's resolution do not matter, small
# enough that the default run (7 loops x 4 workloads x 5 rounds) finishes in
# a few minutes on a 2-core machine. Timers cost several times a callback.
DEFAULT_N = {"callbacks": 200_000, "chain": 200_000, "timers": 50_000, "call_later": 200_000}
QUICK_N = {"callbacks": 20_000, "chain": 20_000, "timers": 5_000, "call_later": 20_000}
DEFAULT_REPEAT = 5
QUICK_REPEAT = 3

# The untimed warm-up run in each worker: enough to warm caches and
# allocators, and its counts are checked so a loop that drops callbacks
# cannot post a fast time.
WARMUP_MAX_OPS = 10_000

# Timer delays are drawn from [0, MAX_TIMER_DELAY] seconds with a fixed seed,
# so every loop gets the same delays in the same order.
MAX_TIMER_DELAY = 0.001
TIMER_SEED = 1234

# Seconds one worker may take before it is killed and reported as a hang.
DEFAULT_WORKER_TIMEOUT = 180.0

BASELINE = "ioloop"


# ---------------------------------------------------------------------------
# Worker side: one loop, one workload, one timed run.
# ---------------------------------------------------------------------------

class _Api:
    """The scheduling calls of one loop, bound once so the timed code makes
    the same number of Python-level calls for every loop.

    ``remove`` is the classic ``remove_timeout``; None means the asyncio
    style, ``handle.cancel()``."""

    __slots__ = ("loop", "soon", "later", "remove", "run", "stop", "close")

    def __init__(self, loop, soon, later, remove, run, stop, close):
        self.loop = loop
        self.soon = soon
        self.later = later
        self.remove = remove
        self.run = run
        self.stop = stop
        self.close = close


def _classic_api(loop):
    return _Api(loop, loop.add_callback, loop.call_later, loop.remove_timeout,
                loop.start, loop.stop, loop.close)


def _asyncio_api(loop):
    return _Api(loop, loop.call_soon, loop.call_later, None,
                loop.run_forever, loop.stop, loop.close)


def _make_api(name):
    if name in ("ioloop", "ioloop-py"):
        import ioloop
        return _classic_api(ioloop.IOLoop())
    if name == "ioloop-asyncio":
        import ioloop
        return _asyncio_api(ioloop.new_event_loop())
    if name == "asyncio":
        import asyncio
        return _asyncio_api(asyncio.new_event_loop())
    if name == "uvloop":
        import uvloop
        return _asyncio_api(uvloop.new_event_loop())
    if name == "rloop":
        import rloop
        return _asyncio_api(rloop.new_event_loop())
    if name == "tornado":
        import tornado.ioloop
        return _classic_api(tornado.ioloop.IOLoop(make_current=False))
    raise ValueError(f"unknown loop {name!r}")


def _run_callbacks(api, n, callback):
    soon = api.soon
    t0 = time.perf_counter_ns()
    for _ in range(n):
        soon(callback)
    soon(api.stop)
    api.run()
    return time.perf_counter_ns() - t0


def _run_call_later(api, n, callback):
    later = api.later
    t0 = time.perf_counter_ns()
    for _ in range(n):
        later(0, callback)
    later(0, api.stop)
    api.run()
    return time.perf_counter_ns() - t0


def _run_chain(api, n):
    soon = api.soon
    stop = api.stop
    left = n

    def step():
        nonlocal left
        left -= 1
        if left:
            soon(step)
        else:
            stop()

    t0 = time.perf_counter_ns()
    soon(step)
    api.run()
    elapsed = time.perf_counter_ns() - t0
    return elapsed, {"ran": n - left}


def _run_timers(api, delays):
    """Timers at even indices are live, odd ones are cancelled before the
    loop runs; the last live timer to fire stops the loop."""
    later = api.later
    remove = api.remove
    stop = api.stop
    n = len(delays)
    live = (n + 1) // 2
    fired = 0
    cancelled_fired = 0

    def on_live():
        nonlocal fired
        fired += 1
        if fired == live:
            stop()

    def on_cancelled():
        nonlocal cancelled_fired
        cancelled_fired += 1

    callbacks = [on_live, on_cancelled] * (n // 2) + [on_live] * (n % 2)
    pairs = list(zip(delays, callbacks))
    t0 = time.perf_counter_ns()
    handles = [later(delay, callback) for delay, callback in pairs]
    if remove is not None:
        for handle in handles[1::2]:
            remove(handle)
    else:
        for handle in handles[1::2]:
            handle.cancel()
    api.run()
    elapsed = time.perf_counter_ns() - t0
    return elapsed, {"fired": fired, "live": live, "cancelled_fired": cancelled_fired}


def _noop():
    pass


def _measure(api, workload, n, checked):
    """One run of ``workload`` with ``n`` operations: (elapsed ns, checks).

    Raises RuntimeError when the loop did not do the work (a callback lost,
    a cancelled timer fired). ``checked``: the callbacks and call_later
    workloads count their callbacks (the warm-up); the timed run uses the
    no-op callback the workloads are defined with."""
    if workload in ("callbacks", "call_later"):
        run = _run_callbacks if workload == "callbacks" else _run_call_later
        if not checked:
            return run(api, n, _noop), {}
        count = 0

        def counting():
            nonlocal count
            count += 1

        elapsed = run(api, n, counting)
        if count != n:
            raise RuntimeError(f"{workload}: {count} of {n} callbacks ran")
        return elapsed, {"ran": count}
    if workload == "chain":
        elapsed, checks = _run_chain(api, n)
        if checks["ran"] != n:
            raise RuntimeError(f"chain: {checks['ran']} of {n} steps ran")
        return elapsed, checks
    if workload == "timers":
        rng = random.Random(TIMER_SEED)
        delays = [rng.random() * MAX_TIMER_DELAY for _ in range(n)]
        elapsed, checks = _run_timers(api, delays)
        if checks["fired"] != checks["live"] or checks["cancelled_fired"]:
            raise RuntimeError(f"timers: {checks['fired']} of {checks['live']} live timers fired, "
                               f"{checks['cancelled_fired']} cancelled ones fired")
        return elapsed, checks
    raise ValueError(f"unknown workload {workload!r}")


def _peer_version(name):
    if name.startswith("ioloop"):
        import ioloop
        return getattr(ioloop, "__version__", None)
    if name == "asyncio":
        return platform.python_version()
    if name == "tornado":
        import tornado
        return getattr(tornado, "version", None)
    module = __import__(name)
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib import metadata
            version = metadata.version(name)
        except Exception:
            version = None
    return version


def _ioloop_identity():
    import ioloop
    return {
        "implementation": getattr(ioloop, "implementation", None),
        "version": getattr(ioloop, "__version__", None),
        "file": os.path.realpath(ioloop.__file__),
    }


def _worker(loop_name, workload, n):
    if n < 2:
        raise SystemExit("N must be at least 2")
    api = _make_api(loop_name)
    try:
        # Warm-up, with its results checked; then the timed run.
        _measure(api, workload, min(n, WARMUP_MAX_OPS), checked=True)
        gc.collect()
        # The collector stays on (it is part of what a program pays for its
        # handles); how often it ran is reported with the sample.
        gc_before = [gen["collections"] for gen in gc.get_stats()]
        elapsed, checks = _measure(api, workload, n, checked=False)
        gc_runs = [gen["collections"] - old for gen, old in zip(gc.get_stats(), gc_before)]
    finally:
        api.close()
    result = {
        "loop": loop_name,
        "workload": workload,
        "n": n,
        "elapsed_ns": elapsed,
        "ns_per_op": elapsed / n,
        "checks": checks,
        "gc_collections": gc_runs,
        "loop_type": f"{type(api.loop).__module__}.{type(api.loop).__qualname__}",
        "version": _peer_version(loop_name),
        "python": platform.python_version(),
        "ioloop": _ioloop_identity(),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Parent side: peers, schedule, summary, table.
# ---------------------------------------------------------------------------

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


def _tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


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


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        info = ""
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in info.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown"


def _nproc():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count()


def _governor():
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") as f:
            return f.read().strip()
    except OSError:
        return None


def _machine_info():
    import ioloop
    info = {
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "nproc": _nproc(),
        "cpu_governor": _governor(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "ioloop_version": getattr(ioloop, "__version__", None),
        "ioloop_implementation": getattr(ioloop, "implementation", None),
        "ioloop_file": os.path.realpath(ioloop.__file__),
    }
    try:
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        info["loadavg"] = None
    noisy = [v for v in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONTRACEMALLOC")
             if os.environ.get(v)]
    info["noisy_env"] = noisy
    return info


def _probe_peer(name, timeout):
    """{"status": "ok"|"skipped"|"error", "version", "detail", "reason"}."""
    if name in ("ioloop", "ioloop-asyncio"):
        ident = _ioloop_identity()
        detail = f"implementation={ident['implementation']}"
        if name == "ioloop-asyncio":
            detail += ", asyncio API of the same loop"
        return {"status": "ok", "version": ident["version"], "detail": detail,
                "implementation": ident["implementation"], "file": ident["file"]}
    if name == "ioloop-py":
        try:
            ident = _run_subprocess(["--probe"], name, timeout)
        except RuntimeError as exc:
            return {"status": "error", "version": None, "reason": f"probe failed: {exc}"}
        if ident.get("implementation") != "python":
            return {"status": "error", "version": ident.get("version"),
                    "reason": f"IOLOOP_NO_EXTENSIONS=1 gave implementation "
                              f"{ident.get('implementation')!r}"}
        return {"status": "ok", "version": ident.get("version"),
                "detail": "implementation=python, in subprocesses with IOLOOP_NO_EXTENSIONS=1",
                "implementation": "python", "file": ident.get("file")}
    if name == "asyncio":
        import asyncio
        loop = asyncio.new_event_loop()
        try:
            detail = f"stdlib, {type(loop).__name__}"
        finally:
            loop.close()
        return {"status": "ok", "version": platform.python_version(), "detail": detail}
    try:
        version = _peer_version(name)
    except ImportError:
        return {"status": "skipped", "version": None, "reason": "not installed"}
    except Exception as exc:  # a broken install is a skip too, with its reason
        return {"status": "skipped", "version": None,
                "reason": f"import failed: {type(exc).__name__}: {exc}"}
    detail = "tornado.ioloop.IOLoop on asyncio, classic API" if name == "tornado" else ""
    return {"status": "ok", "version": version, "detail": detail}


def _format_table(rows, header):
    """An aligned text table. Numeric columns are right-aligned (marked by a
    leading '>' in their header name). A row with fewer cells than the
    header is a note row: its last cell is written as is after the others
    and does not widen any column (for "skipped (not installed)")."""
    align = ["r" if h.startswith(">") else "l" for h in header]
    header = [h.lstrip(">") for h in header]
    widths = [len(h) for h in header]
    for row in rows:
        if len(row) == len(header):
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

    def fmt(cells):
        return "  ".join(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i])
                         for i, cell in enumerate(cells))

    lines = [fmt(header).rstrip(), "  ".join("-" * w for w in widths)]
    for row in rows:
        if len(row) == len(header):
            lines.append(fmt(row).rstrip())
        else:
            lines.append(fmt(row[:-1]) + "  " + row[-1])
    return "\n".join(lines)


def _fmt_ns(x):
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}"


def _summarise(samples, loops, workloads):
    summary = {}
    for loop in loops:
        for workload in workloads:
            values = [s["ns_per_op"] for s in samples.get(loop, {}).get(workload, [])]
            if not values:
                continue
            summary.setdefault(loop, {})[workload] = {
                "median_ns_per_op": statistics.median(values),
                "min_ns_per_op": min(values),
                "max_ns_per_op": max(values),
                "samples": len(values),
            }
    for loop, per in summary.items():
        for workload, s in per.items():
            base = summary.get(BASELINE, {}).get(workload)
            s["ratio_vs_ioloop"] = (s["median_ns_per_op"] / base["median_ns_per_op"]
                                    if base else None)
    return summary


def _results_table(summary, peers, loops, workloads, ns, errors):
    failed = {(e["loop"], e["workload"]) for e in errors}
    rows = []
    for workload in workloads:
        first = True
        for loop in loops:
            label = workload if first else ""
            first = False
            peer = peers[loop]
            if peer["status"] == "skipped":
                rows.append([label, loop, f"skipped ({peer['reason']})"])
                continue
            if peer["status"] == "error":
                rows.append([label, loop, "ERROR (see errors below)"])
                continue
            s = summary.get(loop, {}).get(workload)
            if s is None:
                rows.append([label, loop, "ERROR (see errors below)"
                             if (loop, workload) in failed else "no data"])
                continue
            med = s["median_ns_per_op"]
            spread = (s["max_ns_per_op"] - s["min_ns_per_op"]) / med * 100 if med else 0.0
            ratio = s["ratio_vs_ioloop"]
            note = "" if (loop, workload) not in failed else "some runs failed"
            rows.append([
                label, loop, str(ns[workload]),
                _fmt_ns(med),
                f"{_fmt_ns(s['min_ns_per_op'])} - {_fmt_ns(s['max_ns_per_op'])}",
                f"{spread:.1f}%",
                f"{ratio:.2f}x" if ratio is not None else "-",
                f"{s['samples']}" + (f"  {note}" if note else ""),
            ])
    header = ["workload", "loop", ">N", ">median ns/op", ">min - max ns/op", ">spread",
              ">vs ioloop", "runs"]
    return _format_table(rows, header)


def _header_text(machine, peers, loops, workloads, ns, repeat):
    lines = ["ioloop benchmark: " + time.strftime("%Y-%m-%d %H:%M:%S %z")]
    lines.append(f"machine : {machine['machine']}, {machine['cpu']}, nproc={machine['nproc']}"
                 + (f", governor={machine['cpu_governor']}" if machine["cpu_governor"] else "")
                 + f", {machine['kernel']}")
    if machine.get("loadavg") is not None:
        lines.append(f"load    : {' '.join(str(x) for x in machine['loadavg'])} (at start)")
    lines.append(f"python  : {machine['python']} ({machine['python_executable']})")
    lines.append(f"ioloop  : {machine['ioloop_version']}, implementation="
                 f"{machine['ioloop_implementation']} in the main process "
                 f"({machine['ioloop_file']})")
    if machine["noisy_env"]:
        lines.append(f"WARNING : {', '.join(machine['noisy_env'])} set: "
                     "results are not representative")
    lines.append("peers   :")
    width = max(len(name) for name in loops)
    for name in loops:
        peer = peers[name]
        if peer["status"] == "ok":
            text = f"{peer['version'] or '?'}"
            if peer.get("detail"):
                text += f"  ({peer['detail']})"
        elif peer["status"] == "skipped":
            text = f"skipped ({peer['reason']})"
        else:
            text = f"ERROR: {peer['reason']}"
        lines.append(f"  {name.ljust(width)}  {text}")
    lines.append("runs    : " + ", ".join(f"{w} N={ns[w]}" for w in workloads))
    lines.append(f"          repeat {repeat}; each run a fresh subprocess; "
                 "loop order shuffled per round and workload")
    return "\n".join(lines)


def _split_names(text, allowed, what, parser):
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in allowed]
    if unknown or not names:
        parser.error(f"unknown {what}: {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m ioloop.bench",
        description="Benchmark ioloop against asyncio, uvloop, rloop and Tornado "
                    "(each measurement in a fresh subprocess).")
    p.add_argument("--quick", action="store_true",
                   help=f"small N ({QUICK_N['callbacks']} callbacks, {QUICK_N['timers']} timers) "
                        f"and repeat {QUICK_REPEAT}")
    p.add_argument("--loops", default=",".join(LOOPS),
                   help=f"comma-separated loops (default: all of {','.join(LOOPS)})")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated workloads (default: {','.join(WORKLOADS)})")
    p.add_argument("--repeat", type=int, default=None,
                   help=f"runs per loop and workload (default {DEFAULT_REPEAT}, "
                        f"{QUICK_REPEAT} with --quick)")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="operations per run for every workload (overrides the defaults)")
    p.add_argument("--json", metavar="FILE", help="write all raw samples and the summary to FILE")
    p.add_argument("--timeout", type=float, default=DEFAULT_WORKER_TIMEOUT,
                   help="seconds before a worker is killed as hung "
                        f"(default {DEFAULT_WORKER_TIMEOUT:g})")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the shuffling of the loop order (default: random)")
    p.add_argument("--worker", nargs=3, metavar=("LOOP", "WORKLOAD", "N"), help=argparse.SUPPRESS)
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)

    if args.probe:
        sys.stdout.write(json.dumps(_ioloop_identity()) + "\n")
        return 0
    if args.worker:
        loop_name, workload, n_text = args.worker
        if loop_name not in LOOPS or workload not in WORKLOADS:
            parser.error(f"bad worker arguments {args.worker}")
        _worker(loop_name, workload, int(n_text))
        return 0

    loops = _split_names(args.loops, LOOPS, "loop", parser)
    workloads = _split_names(args.workloads, WORKLOADS, "workload", parser)
    repeat = args.repeat
    if repeat is None:
        repeat = QUICK_REPEAT if args.quick else DEFAULT_REPEAT
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    ns = dict(QUICK_N if args.quick else DEFAULT_N)
    if args.n is not None:
        if args.n < 2:
            parser.error("--n must be at least 2")
        ns = {w: args.n for w in WORKLOADS}

    started = time.time()
    machine = _machine_info()
    peers = {name: _probe_peer(name, args.timeout) for name in loops}
    print(_header_text(machine, peers, loops, workloads, ns, repeat), flush=True)

    runnable = [name for name in loops if peers[name]["status"] == "ok"]
    samples = {name: {w: [] for w in workloads} for name in runnable}
    errors = [{"loop": name, "workload": None, "round": None, "message": peers[name]["reason"]}
              for name in loops if peers[name]["status"] == "error"]
    failed = set()
    order = []
    rng = random.Random(args.seed)
    total = repeat * len(workloads) * len(runnable)
    done = 0
    interrupted = False
    try:
        for rnd in range(repeat):
            for workload in workloads:
                round_order = runnable[:]
                rng.shuffle(round_order)
                order.append({"round": rnd, "workload": workload, "loops": round_order})
                for position, name in enumerate(round_order):
                    done += 1
                    prefix = (f"[{done:>{len(str(total))}}/{total}] round {rnd + 1}/{repeat} "
                              f"{workload:<10} {name:<14}")
                    if (name, workload) in failed:
                        print(f"{prefix} skipped (failed before)", file=sys.stderr, flush=True)
                        continue
                    try:
                        result = _run_subprocess(["--worker", name, workload, str(ns[workload])],
                                                 name, args.timeout)
                        _check_result(result, name, workload, ns[workload], peers[name])
                    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
                        failed.add((name, workload))
                        errors.append({"loop": name, "workload": workload, "round": rnd,
                                       "message": str(exc)})
                        print(f"{prefix} ERROR: {exc}", file=sys.stderr, flush=True)
                        continue
                    samples[name][workload].append({
                        "round": rnd,
                        "position": position,
                        "n": result["n"],
                        "elapsed_ns": result["elapsed_ns"],
                        "ns_per_op": result["ns_per_op"],
                        "checks": result.get("checks", {}),
                        "gc_collections": result.get("gc_collections"),
                    })
                    print(f"{prefix} {_fmt_ns(result['ns_per_op']):>8} ns/op  "
                          f"(t={time.time() - started:.0f}s)", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: summarising the runs done so far", file=sys.stderr, flush=True)

    summary = _summarise(samples, runnable, workloads)
    print()
    print(_results_table(summary, peers, loops, workloads, ns, errors))
    print("\nns/op: wall time of one run (scheduling + running) / N; median and min - max over "
          "the runs;\nspread: (max - min) / median; vs ioloop: median / ioloop's median "
          "(below 1.00x is faster than ioloop).")
    if errors:
        print("\nerrors:")
        for e in errors:
            where = e["loop"]
            if e["workload"]:
                where += f" {e['workload']} round {e['round'] + 1}"
            print(f"  {where}: {e['message']}")
    duration = time.time() - started
    print(f"\ntotal time {duration:.0f}s" + ("  (interrupted)" if interrupted else ""))

    if args.json:
        doc = {
            "schema": 1,
            "meta": dict(machine, argv=sys.argv[1:] if argv is None else list(argv),
                         started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                         duration_s=duration, repeat=repeat, n=ns, loops=loops,
                         workloads=workloads, seed=args.seed, interrupted=interrupted,
                         baseline=BASELINE),
            "peers": peers,
            "samples": samples,
            "summary": summary,
            "order": order,
            "errors": errors,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"raw samples and summary written to {args.json}")
    if interrupted:
        return 130
    return 1 if errors else 0


def _check_result(result, name, workload, n, peer):
    """A worker's JSON must be for what was asked, with a positive time,
    and an ioloop worker must have imported the ioloop (and engine) that the
    header names."""
    if result.get("loop") != name or result.get("workload") != workload or result.get("n") != n:
        raise ValueError(f"worker answered for something else: {result!r}")
    elapsed = result.get("elapsed_ns")
    if not isinstance(elapsed, int) or elapsed <= 0:
        raise ValueError(f"bad elapsed_ns {elapsed!r}")
    if name.startswith("ioloop"):
        ident = result.get("ioloop") or {}
        if ident.get("implementation") != peer.get("implementation"):
            raise ValueError(f"worker ran implementation {ident.get('implementation')!r}, "
                             f"expected {peer.get('implementation')!r}")
        if peer.get("file") and ident.get("file") != peer.get("file"):
            raise ValueError(f"worker imported {ident.get('file')}, expected {peer.get('file')}")


if __name__ == "__main__":
    sys.exit(main())

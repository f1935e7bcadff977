"""The command line of ``python -m ioloop.bench``: its options, the checks
on them, the C tools' build for the timed workloads, and the schedule: every
(loop, workload) cell runs R times in fresh worker processes, the loops in a
new shuffled order for every round and workload, with progress on stderr.
The application workloads (``--group app``) run at saturation in those
rounds, then, after them, at a fixed rate chosen from what the rounds
measured (a share of the slowest loop's throughput), again interleaved.
A worker (``--worker``), the Python echo load generator (``--echo-load``),
an application server (``--app-server``) and the probe of the pure-Python
engine (``--probe``) are entry points of the same command. The results go
to ``report`` (and ``plot``)."""


import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import types

from .config import (
    ALL_WORKLOADS,
    APP_CONNS,
    APP_RATE_FRACTION,
    APP_WARMUP_MS,
    APP_WARM_MS,
    APP_WORKLOADS,
    DEFAULT_N,
    DEFAULT_REPEAT,
    DEFAULT_VALUES,
    DEFAULT_WARMUPS,
    DEFAULT_WORKER_TIMEOUT,
    ECHO_CONNS,
    ECHO_DEPTH,
    ECHO_SIZE,
    ECHO_WARMUP_MS,
    ECHO_WORKLOADS,
    EXTRA_WORKLOADS,
    FLOOR,
    FULL_N,
    GROUPS,
    IDLE_FDS,
    IMPORTED_IOLOOPS,
    LATENCY_WORKLOADS,
    LOOPS,
    MEMORY_DEFAULT_REPEAT,
    OPT_IN_LOOPS,
    OVERHEAD_LOOPS,
    PEERS,
    QUICK_N,
    QUICK_REPEAT,
    QUICK_VALUES,
    TIMED_WORKLOADS,
    WATCHDOG_THRESHOLD,
    WIDTH,
    WORKLOADS,
    _applies,
    _baseline,
    _missing_requirement,
)
from .harness import _Collector, _check_result, _harness_info, _pyperf, _run_subprocess
from .loadgen import _build_c_tools, _c_compiler, _echo_load
from .peers import _ioloop_identity, _machine_info, _probe_peer, _python_engine_refusal
from .plot import _write_plot
from .report import (
    _fmt_ns,
    _header_text,
    _print_results,
    _summarise,
    _wrap,
    _write_json,
    _write_pyperf_dir,
)
from .worker import _worker


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
        description="Benchmark ioloop against asyncio, uvloop, rloop and Tornado, next to "
                    "a no-loop floor (each measurement in a fresh subprocess; pyperf "
                    "worker processes when pyperf is installed). Peers that are not "
                    "installed are shown as skipped; pip install 'ioloop-epoll[bench]' "
                    "installs them all, and pyperf.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help=f"small N ({QUICK_N['callbacks']:,} callbacks, "
                           f"{QUICK_N['memory']:,} timers for memory) and repeat {QUICK_REPEAT}: "
                           "a smoke test, not a measurement")
    size.add_argument("--full", action="store_true",
                      help=f"the large sizes ({FULL_N['callbacks']:,} callbacks, "
                           f"{FULL_N['chain']:,} chained, {FULL_N['timers']:,} timers, ..., "
                           f"{FULL_N['echo'] / 1000:g} s echo runs); takes several times "
                           "longer than the default, which reduces the slowest ones")
    p.add_argument("--loops", default=",".join(LOOPS),
                   help=f"comma-separated loops (default: all of {','.join(LOOPS)}); "
                        f"the '{FLOOR}' row is always added unless --no-floor; a loop that "
                        "is not installed is shown as skipped. Measured only when named: "
                        f"{','.join(OPT_IN_LOOPS)} (ioloop with the blocked-loop watchdog "
                        f"on, set_blocking_threshold({WATCHDOG_THRESHOLD:g}))")
    p.add_argument("--overhead", action="store_true",
                   help="also measure what ioloop's opt-in observability costs: adds "
                        f"{','.join(OVERHEAD_LOOPS)} to the loops (and ioloop-asyncio, the "
                        "reference of the workloads on asyncio's server APIs); the watchdog "
                        "row's 'vs ioloop' column is its cost. E.g. --loops ioloop --overhead")
    p.add_argument("--no-floor", action="store_true", help="do not measure the no-loop floor")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--workloads", default=None,
                       help=f"comma-separated workloads (default: the group's; loop: "
                            f"{','.join(WORKLOADS)}; also: {','.join(EXTRA_WORKLOADS)}; app: "
                            f"{','.join(APP_WORKLOADS)}); a workload whose library is not "
                            "installed (tornado_echo: Tornado; the app ones: their framework) "
                            "is skipped")
    which.add_argument("--group", choices=tuple(GROUPS), default="loop",
                       help="loop: the loop-level workloads (default); app: HTTP application "
                            "servers (uvicorn, aiohttp, a raw httptools protocol, Tornado) "
                            "each in a process of its own, at saturation and at a fixed "
                            "rate (p50/p99/p99.9 latency); all: both")
    p.add_argument("--repeat", type=int, default=None,
                   help=f"worker processes per loop and workload (default {DEFAULT_REPEAT}, "
                        f"{QUICK_REPEAT} with --quick; memory runs "
                        f"{MEMORY_DEFAULT_REPEAT} unless --repeat is given)")
    p.add_argument("--values", type=int, default=None,
                   help=f"timed values per worker process (default {DEFAULT_VALUES}, "
                        f"{QUICK_VALUES} with --quick; memory always takes one)")
    p.add_argument("--warmups", type=int, default=DEFAULT_WARMUPS,
                   help=f"untimed warm-up runs per worker process (default {DEFAULT_WARMUPS})")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="operations per run for every workload but the echo ones (instead "
                        "of the sizes of the default run, --quick or --full)")
    p.add_argument("--idle-fds", type=int, default=None, metavar="K",
                   help=f"idle fds for the idle workload (default {IDLE_FDS:,})")
    p.add_argument("--json", metavar="FILE",
                   help="write all raw samples, the summary and the pyperf data to FILE")
    p.add_argument("--pyperf-dir", metavar="DIR",
                   help="write one pyperf JSON file per loop to DIR (for python -m pyperf "
                        "compare_to DIR/ioloop.json DIR/asyncio.json)")
    p.add_argument("--harness", choices=("auto", "pyperf", "builtin"), default="auto",
                   help="pyperf worker processes, or the built-in stand-in (default: pyperf "
                        "when installed)")
    p.add_argument("--timeout", type=float, default=DEFAULT_WORKER_TIMEOUT,
                   help="seconds before a worker is killed as hung "
                        f"(default {DEFAULT_WORKER_TIMEOUT:g})")
    p.add_argument("--allow-python-engine", action="store_true",
                   help="measure the ioloop rows even when its compiled engine did not load "
                        "(they then run the pure-Python engine, and say so); without it the "
                        "bench refuses, unless IOLOOP_NO_EXTENSIONS=1 asks for that engine")
    p.add_argument("--wide", action="store_true",
                   help=f"do not fit the output in {WIDTH} columns: long lines stay whole and "
                        "every row's notes (the echo servers' CPU figures included) stay on "
                        "it")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the shuffling of the loop order (default: random)")
    p.add_argument("--worker", nargs=3, metavar=("LOOP", "WORKLOAD", "N"), help=argparse.SUPPRESS)
    p.add_argument("--echo-gen", choices=("auto", "c", "python"), default="auto",
                   help="echo load generator: C (compiled at start with $CC/gcc/cc) or the "
                        "Python one (default: C when a compiler works)")
    p.add_argument("--echo-depth", type=int, default=ECHO_DEPTH, metavar="K",
                   help=f"echo messages in flight per connection (default {ECHO_DEPTH}: "
                        "request/response; more pipelines them)")
    p.add_argument("--echo-duration", type=float, default=None, metavar="SECONDS",
                   help=f"length of one timed echo run (default "
                        f"{DEFAULT_N['echo'] / 1000:g}, {QUICK_N['echo'] / 1000:g} with --quick, "
                        f"{FULL_N['echo'] / 1000:g} with --full)")
    p.add_argument("--app-duration", type=float, default=None, metavar="SECONDS",
                   help=f"length of one timed run of an application workload (default "
                        f"{DEFAULT_N['uvicorn'] / 1000:g}, {QUICK_N['uvicorn'] / 1000:g} with "
                        f"--quick, {FULL_N['uvicorn'] / 1000:g} with --full)")
    p.add_argument("--app-fraction", type=float, default=APP_RATE_FRACTION, metavar="F",
                   help="the fixed rate of the application workloads' latency runs: this "
                        "share of the slowest loop's median saturation throughput in the "
                        f"same run (default {APP_RATE_FRACTION:g}), the same for every loop")
    p.add_argument("--app-conns", type=int, default=APP_CONNS, metavar="K",
                   help="keep-alive connections of the HTTP load generator (default "
                        f"{APP_CONNS}; one request in flight on each)")
    p.add_argument("--plot", metavar="FILE",
                   help="write an SVG chart of the results to FILE: requests/s of the "
                        "echo and application workloads, and their latency percentiles")
    p.add_argument("--app-rate", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--echo-load", nargs=4, type=int, metavar=("PORT", "CONNS", "SIZE", "DEPTH"),
                   help=argparse.SUPPRESS)
    p.add_argument("--c-dir", help=argparse.SUPPRESS)
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--app-server", nargs=2, metavar=("WORKLOAD", "LOOP"), help=argparse.SUPPRESS)
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)

    if args.app_server:
        from .apps import serve
        return serve(*args.app_server)
    if args.probe:
        sys.stdout.write(json.dumps(_ioloop_identity()) + "\n")
        return 0
    if args.echo_load:
        return _echo_load(*args.echo_load)
    if args.echo_depth < 1:
        parser.error("--echo-depth must be at least 1")
    if args.values is None:
        args.values = QUICK_VALUES if args.quick else DEFAULT_VALUES
    if args.values < 1 or args.warmups < 0:
        parser.error("--values must be at least 1 and --warmups at least 0")
    if args.idle_fds is not None and args.idle_fds < 2:
        parser.error("--idle-fds must be at least 2")
    idle_fds = args.idle_fds if args.idle_fds is not None else IDLE_FDS
    if args.worker:
        loop_name, workload, n_text = args.worker
        if loop_name not in PEERS or workload not in ALL_WORKLOADS:
            parser.error(f"bad worker arguments {args.worker}")
        if args.harness == "auto":
            args.harness = "pyperf" if _pyperf() is not None else "builtin"
        if args.echo_gen == "auto":
            args.echo_gen = "c" if _c_compiler() else "python"
        _worker(loop_name, workload, int(n_text), args)
        return 0
    with tempfile.TemporaryDirectory(prefix="ioloop-bench-") as c_dir:
        return _main(args, parser, argv, idle_fds, c_dir)


def _echo_setup(args, workloads, build):
    """The echo description for the header and the JSON (None when no echo
    workload runs); ``build``: the C tools' build."""
    if not any(w in ECHO_WORKLOADS for w in workloads):
        return None
    gen = args.echo_gen
    if gen == "auto":
        gen = "c" if build["ok"] else "python"
    if gen == "c" and not build["ok"]:
        raise SystemExit(f"--echo-gen c: cannot build the C load generator: {build['error']}")
    if gen == "c":
        text = (f"C load generator ({build['compiler']}, -O2, built at start): one process, "
                "epoll")
    else:
        text = ("Python load generator (this module on select.epoll; "
                + ("--echo-gen python" if args.echo_gen == "python"
                   else f"no C build: {build['error']}")
                + "): it may be the bottleneck, see its busy share")
    text += (f", {ECHO_CONNS} connections, {ECHO_SIZE}-byte messages, {args.echo_depth} in "
             f"flight per connection ({'no pipelining' if args.echo_depth == 1 else 'pipelined'})"
             "; each run: connect, one priming round trip per connection, then N ms of load"
             " counted by the generator (warm-ups: at most "
             f"{ECHO_WARMUP_MS} ms); values: seconds per request; table: req/s")
    floor = (f"floor: an epoll echo server in C ({build['compiler']})" if build["ok"]
             else f"floor: skipped (the C echo server cannot be built: {build['error']})")
    return {"generator": gen, "c_build": build, "depth": args.echo_depth, "conns": ECHO_CONNS,
            "size": ECHO_SIZE, "warmup_ms": ECHO_WARMUP_MS, "text": text, "floor": floor}


def _app_setup(args, workloads, build):
    """The application workloads' description for the header and the JSON
    (None when none runs)."""
    if not any(w in APP_WORKLOADS for w in workloads):
        return None
    text = (f"C HTTP load generator ({build['compiler']}, -O2, built at start): one process, "
            f"epoll, {args.app_conns} keep-alive connections, one request in flight on each, "
            "every response checked (status 200, body length; a wrong one makes the run an "
            f"error). Each run: {APP_WARM_MS} ms of untimed load, then N ms. Saturation: each "
            "connection sends its next request when a response arrived (req/s). Then a "
            f"fixed rate, {args.app_fraction:g} x the slowest loop's median req/s in this run, "
            "the same for every loop: requests due on a timetable, latency from the time each "
            "was due (p50, p99, p99.9). The server runs in a process of its own; the table "
            "notes when it had to wait for a CPU")
    return {"conns": args.app_conns, "fraction": args.app_fraction, "warm_ms": APP_WARM_MS,
            "warmup_ms": APP_WARMUP_MS, "c_build": build, "text": text, "rates": {}}


def _app_rate(collector, workload, loops, fraction):
    """The fixed rate of ``workload``'s latency half: ``fraction`` of the
    slowest loop's median saturation throughput; None without one."""
    measured = {}
    for loop in loops:
        s = collector.stats(loop, workload)
        if s is not None:
            measured[loop] = 1 / s["median"]
    if not measured:
        return None
    slowest = min(measured, key=measured.get)
    return {"rate": round(fraction * measured[slowest], 1), "slowest": slowest,
            "slowest_req_per_s": measured[slowest], "fraction": fraction}


def _progress_text(b):
    """One benchmark record of a worker, as the progress line shows it."""
    v = statistics.median(b["values"])
    if b["unit"] == "byte":
        return f"{v:,.1f} B/timer"
    if b["name"] in TIMED_WORKLOADS:
        return f"{1 / v:,.0f} req/s"
    if b["name"].endswith("@rate"):
        return f"p99 {v * 1e3:,.2f} ms"
    if b["name"] in LATENCY_WORKLOADS:
        return f"p99 {v * 1e6:,.0f} us late"
    return f"{_fmt_ns(v * 1e9)} ns/op"


def _main(args, parser, argv, idle_fds, c_dir):

    workloads = (_split_names(args.workloads, ALL_WORKLOADS, "workload", parser)
                 if args.workloads is not None else list(GROUPS[args.group]))
    loops = _split_names(args.loops, PEERS, "loop", parser)
    if args.overhead:
        # The watchdog's row and the rows it is compared against.
        wanted = list(OVERHEAD_LOOPS)
        if any(_applies("ioloop-watchdog", w) and _baseline(w) != "ioloop" for w in workloads):
            wanted.insert(1, "ioloop-asyncio")
        loops += [name for name in wanted if name not in loops]
    if not 0 < args.app_fraction <= 1:
        parser.error("--app-fraction must be in (0, 1]")
    if args.app_conns < 1:
        parser.error("--app-conns must be at least 1")
    # Every line of the output fits in WIDTH columns, unless --wide.
    width = None if args.wide else WIDTH
    if not args.allow_python_engine and any(n in IMPORTED_IOLOOPS for n in loops):
        refusal = _python_engine_refusal(_ioloop_identity())
        if refusal:
            print(_wrap(f"{parser.prog}: not measuring: {refusal}", width), file=sys.stderr)
            return 2
    # Rows in a fixed order (the floor first, then ioloop and its variants,
    # then the peers), whatever order --loops named them in.
    wanted = set(loops) | ({FLOOR} if not args.no_floor else set())
    order = [name for name in PEERS if name in wanted]
    repeat = args.repeat
    if repeat is None:
        repeat = QUICK_REPEAT if args.quick else DEFAULT_REPEAT
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    repeats = {w: repeat for w in workloads}
    if "memory" in repeats and args.repeat is None:
        repeats["memory"] = min(repeat, MEMORY_DEFAULT_REPEAT)
    ns = dict(QUICK_N if args.quick else FULL_N if args.full else DEFAULT_N)
    if args.n is not None:
        if args.n < 2:
            parser.error("--n must be at least 2")
        ns.update({w: args.n for w in ALL_WORKLOADS if w not in TIMED_WORKLOADS})
    if args.echo_duration is not None:
        if not args.echo_duration >= 0.01:
            parser.error("--echo-duration must be at least 0.01 s")
        ns.update({w: round(args.echo_duration * 1000) for w in ECHO_WORKLOADS})
    if args.app_duration is not None:
        if not args.app_duration >= 0.01:
            parser.error("--app-duration must be at least 0.01 s")
        ns.update({w: round(args.app_duration * 1000) for w in APP_WORKLOADS})
    harness = _harness_info(args.harness)
    harness["text"] += (f"; per worker process {args.warmups} warm-up run(s) + {args.values} "
                        f"timed run(s) of N (memory: one measurement)")
    # Workloads that need a library that is not installed: skipped whole.
    unavailable = {w: why for w in workloads if (why := _missing_requirement(w))}
    # The C tools, built when a timed workload runs (the application ones
    # cannot do without them), and only those the run needs: the echo
    # floor server and load generator, the HTTP load generator.
    timed = [w for w in workloads if w in TIMED_WORKLOADS and w not in unavailable]
    tools = ((["echo_server", "echo_load"] if any(w in ECHO_WORKLOADS for w in timed) else [])
             + (["http_load"] if any(w in APP_WORKLOADS for w in timed) else []))
    build = _build_c_tools(c_dir, tools) if tools else None
    if build is not None and not build["ok"]:
        unavailable.update({w: f"needs the C HTTP load generator: {build['error']}"
                            for w in workloads if w in APP_WORKLOADS and w not in unavailable})
    echo = _echo_setup(args, [w for w in workloads if w not in unavailable], build)
    app = _app_setup(args, [w for w in workloads if w not in unavailable], build)
    # Which (loop, workload) cells run: the workload must apply to the loop;
    # the floor of the echo workloads (one C server) runs under the first.
    first_echo = next((w for w in workloads if w in ECHO_WORKLOADS and w not in unavailable),
                      None)

    def scheduled(loop, workload):
        if workload in unavailable:
            return False
        if loop == FLOOR and workload in ECHO_WORKLOADS and workload != first_echo:
            return False
        return _applies(loop, workload)

    started = time.time()
    machine = _machine_info()
    peers = {name: _probe_peer(name, args.timeout) for name in order}
    mode = "quick" if args.quick else "full" if args.full else "default"
    print(_header_text(machine, peers, order, workloads, ns, repeats, harness, idle_fds,
                       FULL_N, mode, echo, unavailable, width, custom_n=args.n is not None,
                       app=app),
          flush=True)

    runnable = [name for name in order if peers[name]["status"] == "ok"]
    collector = _Collector(harness["kind"] == "pyperf")
    errors = [{"loop": name, "workload": None, "round": None, "message": peers[name]["reason"]}
              for name in order if peers[name]["status"] == "error"]
    failed = set()
    # Every row of a workload that cannot run here is a skipped cell.
    skipped = {(name, w): why for w, why in unavailable.items() for name in runnable
               if _applies(name, w)}
    schedule = []
    rng = random.Random(args.seed)
    # The application workloads run twice per round: at saturation, then
    # (after every round of those) at a fixed rate.
    total = sum(repeats[w] * (2 if w in APP_WORKLOADS else 1)
                for w in workloads for name in runnable if scheduled(name, w))
    done = 0
    interrupted = False
    worker_opts = ["--harness", harness["kind"], "--values", str(args.values),
                   "--warmups", str(args.warmups)]
    if build is not None:
        # The workers use the tools built here (none when the build failed).
        worker_opts += ["--c-dir", c_dir]
    if echo is not None:
        worker_opts += ["--echo-gen", echo["generator"], "--echo-depth", str(echo["depth"])]
    if app is not None:
        worker_opts += ["--app-conns", str(args.app_conns)]
    if args.idle_fds is not None:
        worker_opts += ["--idle-fds", str(args.idle_fds)]
    def run_cell(name, workload, rnd, position, key, more_args=()):
        """One worker for the (loop, workload) cell; ``key``: the workload,
        or its fixed-rate half ("WORKLOAD@rate")."""
        nonlocal done
        done += 1
        prefix = (f"[{done:>{len(str(total))}}/{total}] round {rnd + 1}/"
                  f"{repeats[workload]} {key:<10} {name:<14}")
        if (name, workload) in failed or (name, key) in failed or (name, workload) in skipped:
            print(f"{prefix} skipped (failed or skipped before)", file=sys.stderr, flush=True)
            return
        try:
            result = _run_subprocess(
                ["--worker", name, workload, str(ns[workload])] + worker_opts + list(more_args),
                name, args.timeout)
            _check_result(result, name, workload, ns[workload], peers[name])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            failed.add((name, key))
            errors.append({"loop": name, "workload": key, "round": rnd, "message": str(exc)})
            last = (str(exc).strip().splitlines() or [""])[-1]
            line = f"{prefix} ERROR: {last}"
            if width is not None and len(line) > width:
                line = line[:width - 3] + "..."
            print(line, file=sys.stderr, flush=True)
            return
        if result.get("skipped"):
            skipped[(name, workload)] = result["skipped"]
            print(f"{prefix} skipped: {result['skipped']}", file=sys.stderr, flush=True)
            return
        collector.add(name, result, rnd, position)
        shown = ", ".join(_progress_text(b) for b in result["benchmarks"])
        print(f"{prefix} {shown:>12}  (t={time.time() - started:.0f}s)", file=sys.stderr,
              flush=True)

    try:
        for rnd in range(repeat):
            for workload in workloads:
                if rnd >= repeats[workload]:
                    continue
                round_order = [name for name in runnable if scheduled(name, workload)]
                rng.shuffle(round_order)
                schedule.append({"round": rnd, "workload": workload, "loops": round_order})
                for position, name in enumerate(round_order):
                    run_cell(name, workload, rnd, position, workload)
        # The application workloads' fixed-rate half: the same offered load
        # on every loop, a share of the slowest one's saturation throughput.
        for workload in workloads:
            if workload not in APP_WORKLOADS or workload in unavailable:
                continue
            loops_ok = [name for name in runnable if scheduled(name, workload)
                        and (name, workload) not in failed and (name, workload) not in skipped]
            chosen = _app_rate(collector, workload, loops_ok, args.app_fraction)
            if chosen is None:
                continue
            app["rates"][workload] = chosen
            print(f"{workload}: fixed rate {chosen['rate']:,.0f} req/s ({args.app_fraction:g} x "
                  f"{chosen['slowest']}'s {chosen['slowest_req_per_s']:,.0f} req/s)",
                  file=sys.stderr, flush=True)
            key = f"{workload}@rate"
            for rnd in range(repeats[workload]):
                round_order = loops_ok[:]
                rng.shuffle(round_order)
                schedule.append({"round": rnd, "workload": key, "loops": round_order,
                                 "rate": chosen["rate"]})
                for position, name in enumerate(round_order):
                    run_cell(name, workload, rnd, position, key,
                             ["--app-rate", f"{chosen['rate']:.1f}"])
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: summarising the runs done so far", file=sys.stderr, flush=True)

    run = types.SimpleNamespace(
        args=args, argv=argv, machine=machine, peers=peers, order=order, workloads=workloads,
        ns=ns, repeat=repeat, repeats=repeats, harness=harness, echo=echo, app=app,
        idle_fds=idle_fds,
        first_echo=first_echo, unavailable=unavailable, collector=collector, schedule=schedule,
        skipped=skipped, errors=errors, started=started, interrupted=interrupted, width=width)
    summary = _summarise(collector, order, [w for w in workloads if w not in unavailable],
                         idle_fds, first_echo)
    _print_results(run, summary)
    run.duration = time.time() - started
    print(f"\ntotal time {run.duration:.0f}s" + ("  (interrupted)" if interrupted else ""))
    suites = collector.suites()
    _write_pyperf_dir(run, suites)
    if args.json:
        _write_json(run, summary, suites)
    if args.plot:
        _write_plot(run, summary)
    if interrupted:
        return 130
    return 1 if errors else 0

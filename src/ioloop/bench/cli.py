"""The command line of ``python -m ioloop.bench``: its options, the checks
on them, the C tools' build for the echo workloads, and the schedule: every
(loop, workload) cell runs R times in fresh worker processes, the loops in a
new shuffled order for every round and workload, with progress on stderr.
A worker (``--worker``), the Python echo load generator (``--echo-load``)
and the probe of the pure-Python engine (``--probe``) are entry points of
the same command. The results go to ``report``."""

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
    IDLE_FDS,
    LOOPS,
    MEMORY_DEFAULT_REPEAT,
    PEERS,
    QUICK_N,
    QUICK_REPEAT,
    QUICK_VALUES,
    WIDTH,
    WORKLOADS,
    _applies,
    _missing_requirement,
)
from .harness import _Collector, _check_result, _harness_info, _pyperf, _run_subprocess
from .loadgen import _build_c_tools, _c_compiler, _echo_load
from .peers import _ioloop_identity, _machine_info, _probe_peer, _python_engine_refusal
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
                        "is not installed is shown as skipped")
    p.add_argument("--no-floor", action="store_true", help="do not measure the no-loop floor")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated workloads (default: {','.join(WORKLOADS)}; "
                        f"also: {','.join(EXTRA_WORKLOADS)}); tornado_echo needs Tornado, "
                        "and is skipped without it")
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
    p.add_argument("--echo-load", nargs=4, type=int, metavar=("PORT", "CONNS", "SIZE", "DEPTH"),
                   help=argparse.SUPPRESS)
    p.add_argument("--c-dir", help=argparse.SUPPRESS)
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)

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


def _echo_setup(args, workloads, c_dir):
    """Build the C tools when an echo workload runs; the echo description
    for the header and the JSON."""
    if not any(w in ECHO_WORKLOADS for w in workloads):
        return None
    build = _build_c_tools(c_dir)
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


def _main(args, parser, argv, idle_fds, c_dir):

    loops = _split_names(args.loops, PEERS, "loop", parser)
    workloads = _split_names(args.workloads, ALL_WORKLOADS, "workload", parser)
    # Every line of the output fits in WIDTH columns, unless --wide.
    width = None if args.wide else WIDTH
    if not args.allow_python_engine and any(n in ("ioloop", "ioloop-asyncio") for n in loops):
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
        ns.update({w: args.n for w in ALL_WORKLOADS if w not in ECHO_WORKLOADS})
    if args.echo_duration is not None:
        if not args.echo_duration >= 0.01:
            parser.error("--echo-duration must be at least 0.01 s")
        ns.update({w: round(args.echo_duration * 1000) for w in ECHO_WORKLOADS})
    harness = _harness_info(args.harness)
    harness["text"] += (f"; per worker process {args.warmups} warm-up run(s) + {args.values} "
                        f"timed run(s) of N (memory: one measurement)")
    # Workloads that need a library that is not installed: skipped whole.
    unavailable = {w: why for w in workloads if (why := _missing_requirement(w))}
    echo = _echo_setup(args, [w for w in workloads if w not in unavailable], c_dir)
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
                       FULL_N, mode, echo, unavailable, width, custom_n=args.n is not None),
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
    total = sum(repeats[w] for w in workloads for name in runnable if scheduled(name, w))
    done = 0
    interrupted = False
    worker_opts = ["--harness", harness["kind"], "--values", str(args.values),
                   "--warmups", str(args.warmups)]
    if echo is not None:
        # The workers use the tools built here (none when the build failed).
        worker_opts += ["--echo-gen", echo["generator"], "--echo-depth", str(echo["depth"]),
                        "--c-dir", c_dir]
    if args.idle_fds is not None:
        worker_opts += ["--idle-fds", str(args.idle_fds)]
    try:
        for rnd in range(repeat):
            for workload in workloads:
                if rnd >= repeats[workload]:
                    continue
                round_order = [name for name in runnable if scheduled(name, workload)]
                rng.shuffle(round_order)
                schedule.append({"round": rnd, "workload": workload, "loops": round_order})
                for position, name in enumerate(round_order):
                    done += 1
                    prefix = (f"[{done:>{len(str(total))}}/{total}] round {rnd + 1}/"
                              f"{repeats[workload]} {workload:<10} {name:<14}")
                    if (name, workload) in failed or (name, workload) in skipped:
                        print(f"{prefix} skipped (failed or skipped before)",
                              file=sys.stderr, flush=True)
                        continue
                    try:
                        result = _run_subprocess(
                            ["--worker", name, workload, str(ns[workload])] + worker_opts,
                            name, args.timeout)
                        _check_result(result, name, workload, ns[workload], peers[name])
                    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
                        failed.add((name, workload))
                        errors.append({"loop": name, "workload": workload, "round": rnd,
                                       "message": str(exc)})
                        last = (str(exc).strip().splitlines() or [""])[-1]
                        line = f"{prefix} ERROR: {last}"
                        if width is not None and len(line) > width:
                            line = line[:width - 3] + "..."
                        print(line, file=sys.stderr, flush=True)
                        continue
                    if result.get("skipped"):
                        skipped[(name, workload)] = result["skipped"]
                        print(f"{prefix} skipped: {result['skipped']}", file=sys.stderr,
                              flush=True)
                        continue
                    collector.add(name, result, rnd, position)
                    shown = []
                    for b in result["benchmarks"]:
                        v = statistics.median(b["values"])
                        if b["unit"] == "byte":
                            shown.append(f"{v:,.1f} B/timer")
                        elif b["name"] in ECHO_WORKLOADS:
                            shown.append(f"{1 / v:,.0f} req/s")
                        else:
                            shown.append(f"{_fmt_ns(v * 1e9)} ns/op")
                    print(f"{prefix} {', '.join(shown):>12}  (t={time.time() - started:.0f}s)",
                          file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: summarising the runs done so far", file=sys.stderr, flush=True)

    run = types.SimpleNamespace(
        args=args, argv=argv, machine=machine, peers=peers, order=order, workloads=workloads,
        ns=ns, repeat=repeat, repeats=repeats, harness=harness, echo=echo, idle_fds=idle_fds,
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
    if interrupted:
        return 130
    return 1 if errors else 0

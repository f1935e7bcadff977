"""One worker process (``python -m ioloop.bench --worker LOOP WORKLOAD N``):
it builds the loop (for an application workload: starts the server process
that runs it), runs one workload through the harness and prints one JSON
line with its values, what it skipped and which loop and ioloop ran."""


import functools
import gc
import json
import platform
import sys

from .app import _wl_app
from .common import _Skip
from .config import (APPLICABLE, APP_WORKLOADS, ASYNCIO_API_WORKLOADS, FLOOR, IMPORTED_IOLOOPS,
                     PEERS)
from .echo import _wl_echo, _wl_proto_echo, _wl_stream_echo, _wl_tornado_echo
from .harness import _Harness
from .peers import _ioloop_identity, _make_api, _peer_version
from .workloads import (
    _wl_call_later,
    _wl_callbacks,
    _wl_chain,
    _wl_idle,
    _wl_lateness,
    _wl_memory,
    _wl_pingpong,
    _wl_threadsafe,
    _wl_timers,
)


_WORKLOAD_FUNCS = {
    "callbacks": _wl_callbacks,
    "chain": _wl_chain,
    "timers": _wl_timers,
    "threadsafe": _wl_threadsafe,
    "pingpong": _wl_pingpong,
    "idle": _wl_idle,
    "echo": _wl_echo,
    "proto_echo": _wl_proto_echo,
    "stream_echo": _wl_stream_echo,
    "tornado_echo": _wl_tornado_echo,
    "memory": _wl_memory,
    "call_later": _wl_call_later,
    "lateness": _wl_lateness,
}
_WORKLOAD_FUNCS.update({w: functools.partial(_wl_app, workload=w) for w in APP_WORKLOADS})


def _worker(loop_name, workload, n, args):
    if n < 2:
        raise SystemExit("N must be at least 2")
    opts = {"depth": args.echo_depth, "gen": args.echo_gen, "c_dir": args.c_dir,
            "loop": loop_name, "app_rate": args.app_rate, "app_conns": args.app_conns}
    if args.idle_fds is not None:
        opts["idle_fds"] = args.idle_fds
    if loop_name not in APPLICABLE.get(workload, PEERS):
        raise SystemExit(f"{workload} does not run on {loop_name}")
    metadata = {"loop": loop_name, "workload": workload}
    harness = _Harness(args.harness, args.warmups, args.values, metadata)
    # The application workloads' loop runs in the server process they start.
    api = (None if loop_name == FLOOR or workload in APP_WORKLOADS
           else _make_api(loop_name, asyncio_api=workload in ASYNCIO_API_WORKLOADS))
    extra = {}
    gc_before = [gen["collections"] for gen in gc.get_stats()]
    try:
        benchmarks = _WORKLOAD_FUNCS[workload](api, n, harness, opts, extra)
        skipped = None
    except _Skip as exc:
        benchmarks = []
        skipped = str(exc)
    finally:
        if api is not None:
            if loop_name in IMPORTED_IOLOOPS:
                # The watchdog's threshold when the workload ended: None
                # (off) but on the ioloop-watchdog row.
                extra["blocking_threshold"] = api.loop.get_blocking_threshold()
            api.close()
    # The collector stays on (it is part of what a program pays for its
    # handles); how often it ran is reported with the sample.
    gc_runs = [gen["collections"] - old for gen, old in zip(gc.get_stats(), gc_before)]
    result = {
        "loop": loop_name,
        "workload": workload,
        "n": n,
        "harness": args.harness,
        "benchmarks": benchmarks,
        "skipped": skipped,
        "extra": extra,
        "gc_collections": gc_runs,
        "loop_type": (f"{type(api.loop).__module__}.{type(api.loop).__qualname__}"
                      if api is not None else extra.get("loop_type")),
        "version": _peer_version(loop_name),
        "python": platform.python_version(),
        "ioloop": _ioloop_identity(),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()

"""What the benchmark runs: the loops (peers), the workloads and their
groups, on which loops each workload applies and what it needs besides the
loop, the sizes (N) of the quick, default and full runs, the repeats, and
the constants of the workloads (timer delays, socketpairs, idle fds, the
echo and HTTP loads) and of the output (its width)."""


ECHO_WORKLOADS = ("echo", "proto_echo", "stream_echo", "tornado_echo")
WORKLOADS = ("callbacks", "chain", "timers", "lateness", "threadsafe", "pingpong", "idle") \
    + ECHO_WORKLOADS + ("memory",)
EXTRA_WORKLOADS = ("call_later",)
# The application tier (--group app): HTTP servers, each in a process of
# its own on the loop under test (through its asyncio API), loaded by the C
# HTTP load generator in another process (see apps.py and app.py). Each is
# measured twice: at saturation, then at a fixed rate (its "@rate" half).
APP_WORKLOADS = ("uvicorn", "aiohttp", "aiohttp_64k", "httptools_proto", "tornado_http")
ALL_WORKLOADS = WORKLOADS + EXTRA_WORKLOADS + APP_WORKLOADS
# --group: the loop-level workloads (the default), the application tier,
# or both.
GROUPS = {"loop": WORKLOADS, "app": APP_WORKLOADS, "all": WORKLOADS + APP_WORKLOADS}
FD_WORKLOADS = ("pingpong", "idle") + ECHO_WORKLOADS
# Whose table rows are latency percentiles (the latency table), not costs.
LATENCY_WORKLOADS = ("lateness",)
LOOPS = ("ioloop", "ioloop-asyncio", "ioloop-py", "asyncio", "uvloop", "rloop", "tornado")
# Loops measured only when --loops names them (or with --overhead): the cost
# of ioloop's opt-in observability. "ioloop-watchdog" is the ioloop loop with
# the blocked-loop watchdog on (set_blocking_threshold(WATCHDOG_THRESHOLD)
# right after the loop is made): the classic API, and the asyncio face for
# the workloads on asyncio's server APIs; its ratio column is against that
# same loop without the watchdog. (The always-on counters of stats() cannot
# be turned off: every ioloop row pays for them.)
OPT_IN_LOOPS = ("ioloop-watchdog",)
OVERHEAD_LOOPS = ("ioloop", "ioloop-watchdog")
WATCHDOG_THRESHOLD = 0.1
FLOOR = "floor"
# The rows that run the ioloop (and engine) ``import ioloop`` gives here
# ("ioloop-py" forces the pure-Python one).
IMPORTED_IOLOOPS = ("ioloop", "ioloop-asyncio", "ioloop-watchdog")
# The rows' order: the watchdog's after both rows it is compared against
# (ioloop, and ioloop-asyncio for the workloads on asyncio's server APIs).
PEERS = (FLOOR, "ioloop", "ioloop-asyncio", "ioloop-watchdog") + LOOPS[2:]

# The workloads written against asyncio's own server APIs (or Tornado's
# TCPServer, which runs on the current asyncio loop) run on the asyncio
# loops only: for ioloop that is its asyncio face ("ioloop-asyncio", and
# "ioloop-py" for the twin's), the ratio column's baseline there. The
# "ioloop" row (classic API) and "tornado" (Tornado's IOLoop on the stdlib
# loop: the asyncio row again) do not apply; "ioloop-watchdog" runs them on
# the asyncio face too. Every other workload runs on every loop. The floor
# of every echo workload is the same C server: it is measured once, under
# the first echo workload of the run.
APPLICABLE = {
    "proto_echo": (FLOOR, "ioloop-asyncio", "ioloop-watchdog", "ioloop-py", "asyncio",
                   "uvloop", "rloop"),
    "stream_echo": (FLOOR, "ioloop-asyncio", "ioloop-watchdog", "ioloop-py", "asyncio",
                    "uvloop", "rloop"),
    "tornado_echo": (FLOOR, "ioloop-asyncio", "ioloop-watchdog", "asyncio", "uvloop"),
}
APPLICABLE["lateness"] = PEERS[1:]   # no floor: there is no timer without a loop
ASYNCIO_API_WORKLOADS = ("proto_echo", "stream_echo", "tornado_echo")
# Workloads that need a library besides the loop under test (Tornado's
# TCPServer serves tornado_echo on every loop, ioloop's included): without
# it, every row of the workload is skipped, with that reason.
REQUIRES = {"tornado_echo": ("tornado",)}

# The application servers run on the asyncio loops (ioloop's asyncio face).
APP_LOOPS = ("ioloop-asyncio", "asyncio", "uvloop", "rloop")
APPLICABLE.update({w: APP_LOOPS for w in APP_WORKLOADS})
ASYNCIO_API_WORKLOADS += APP_WORKLOADS
REQUIRES.update({
    "uvicorn": ("uvicorn", "httptools"),
    "aiohttp": ("aiohttp",),
    "aiohttp_64k": ("aiohttp",),
    "httptools_proto": ("httptools",),
    "tornado_http": ("tornado",),
})
# The bodies of GET /: a small one, and 64 KiB (aiohttp_64k).
APP_BODY = b"Hello, world!"
APP_BODY_64K = b"x" * 65536
# Keep-alive connections of the HTTP load generator (one request in flight
# on each: no pipelining).
APP_CONNS = 100
# The fixed rate of the latency half: this share of the slowest loop's
# median saturation throughput, measured earlier in the same run.
APP_RATE_FRACTION = 0.6
# Each load command starts with this much untimed load (ms); a worker's
# warm-up run lasts at most APP_WARMUP_MS.
APP_WARM_MS = 200
APP_WARMUP_MS = 300
# Seconds without any response before a run is an error; seconds a server
# may take to start.
APP_STALL_TIMEOUT = 10.0
APP_START_TIMEOUT = 60.0

# The full sizes (--full). The default run uses smaller ones where the
# full size would take the whole run past ~6 minutes on a 2-core machine
# (the slow peers, Tornado and the pure-Python engine, cost 10-40x ioloop
# per operation); the header says which were reduced.
# The echo workloads are timed, not counted: their "N" is the length of one
# timed run in milliseconds (the load generator counts the replies).
FULL_N = {
    "callbacks": 1_000_000, "chain": 300_000, "timers": 200_000, "threadsafe": 200_000,
    "pingpong": 100_000, "idle": 50_000, "memory": 1_000_000, "call_later": 200_000,
    "echo": 2_000, "proto_echo": 2_000, "stream_echo": 2_000, "tornado_echo": 2_000,
    "lateness": 5_000,
}
DEFAULT_N = {
    "callbacks": 150_000, "chain": 100_000, "timers": 40_000, "threadsafe": 60_000,
    "pingpong": 20_000, "idle": 8_000, "memory": 1_000_000, "call_later": 100_000,
    "echo": 1_000, "proto_echo": 1_000, "stream_echo": 1_000, "tornado_echo": 1_000,
    "lateness": 1_000,
}
QUICK_N = {
    "callbacks": 20_000, "chain": 20_000, "timers": 5_000, "threadsafe": 10_000,
    "pingpong": 3_000, "idle": 1_000, "memory": 50_000, "call_later": 10_000,
    "echo": 200, "proto_echo": 200, "stream_echo": 200, "tornado_echo": 200,
    "lateness": 300,
}
# The application workloads are timed too: N is one timed run in ms.
for _sizes, _ms in ((FULL_N, 2_000), (DEFAULT_N, 1_000), (QUICK_N, 300)):
    _sizes.update(dict.fromkeys(APP_WORKLOADS, _ms))
del _sizes, _ms
TIMED_WORKLOADS = ECHO_WORKLOADS + APP_WORKLOADS
DEFAULT_REPEAT = 3
QUICK_REPEAT = 2
# The memory workload is deterministic to a few bytes per timer and, at 1M
# timers, the slowest one to set up: by default it runs once per loop (an
# explicit --repeat applies to it too).
MEMORY_DEFAULT_REPEAT = 1

# Per worker process: pyperf's warm-ups and values (one value = one full
# run). Two values per process double the samples for 1.5x the work of one;
# on a busy machine the number of samples matters more than their size.
DEFAULT_WARMUPS = 1
DEFAULT_VALUES = 2
QUICK_VALUES = 1

# Timer delays are drawn from [0, MAX_TIMER_DELAY] seconds with a fixed seed,
# so every loop gets the same delays in the same order.
MAX_TIMER_DELAY = 0.001
TIMER_SEED = 1234
# memory: delays in [MEMORY_DELAY, 2 * MEMORY_DELAY] seconds: never fire.
MEMORY_DELAY = 3600.0
# lateness: timers set one after the other, each at a delay drawn from
# [LATENESS_MIN_DELAY, LATENESS_MAX_DELAY] s, while LATENESS_PAIRS
# socketpairs keep one byte bouncing each through read handlers.
LATENESS_MIN_DELAY = 0.0001
LATENESS_MAX_DELAY = 0.0011
LATENESS_PAIRS = 10

PINGPONG_PAIRS = 100
IDLE_FDS = 10_000
ECHO_CONNS = 100
ECHO_SIZE = 64
# Messages each connection keeps in flight (--echo-depth): 1 is the
# classic request/response echo; more pipelines them.
ECHO_DEPTH = 1
# A warm-up run of an echo workload lasts at most this many ms.
ECHO_WARMUP_MS = 300
# Seconds the echo load generator waits for any reply before giving up.
ECHO_STALL_TIMEOUT = 30.0

# Seconds one worker may take before it is killed and reported as a hang.
DEFAULT_WORKER_TIMEOUT = 300.0

BASELINE = "ioloop"

# Columns of the output (--wide: no limit).
WIDTH = 120


def _missing_requirement(workload):
    """Why ``workload`` cannot run here (a library it needs does not
    import), or None."""
    for module in REQUIRES.get(workload, ()):
        try:
            __import__(module)
        except ImportError:
            return f"needs {module}, not installed"
        except Exception as exc:  # a broken install: skipped too, with its reason
            return f"needs {module}, which fails to import: {type(exc).__name__}: {exc}"
    if workload == "uvicorn":
        import uvicorn
        if not hasattr(uvicorn.Config, "get_loop_factory"):
            return (f"needs uvicorn >= 0.36 (a loop factory as --loop), not "
                    f"{getattr(uvicorn, '__version__', '?')}")
    return None


def _applies(loop, workload):
    return loop in APPLICABLE.get(workload, PEERS)


def _baseline(workload):
    """The ratio column's reference: ioloop, or its asyncio face where the
    workload is written against asyncio's APIs."""
    workload = workload.split("@", 1)[0]     # an application workload's fixed-rate half
    return "ioloop-asyncio" if workload in ASYNCIO_API_WORKLOADS else BASELINE

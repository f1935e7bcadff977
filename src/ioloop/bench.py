"""Benchmarks: ioloop side by side with asyncio, uvloop, rloop and Tornado.

Run ``python -m ioloop.bench`` (``--help`` for the options). Every peer that
is installed is measured on the same workloads in one run, each through its
own native API, next to a *floor*: the same work done with no loop at all.

Workloads (N: see the header of a run for the sizes used)
---------------------------------------------------------
``callbacks``   N no-op callbacks scheduled, then the loop runs them all.
``chain``       each callback schedules the next one, N times.
``timers``      N timers at a random delay in [0, 1 ms], every other one
                cancelled; the loop runs until the last live one fires.
``threadsafe``  a second thread submits N callbacks as fast as it can
                (``add_callback`` / ``call_soon_threadsafe``); timed until
                all have run on the loop.
``pingpong``    100 socketpairs each bounce one byte through read handlers,
                N round trips in all; ns per round trip.
``idle``        one socketpair bouncing (N round trips) with no other fd
                registered, then with 10,000 idle fds registered for READ
                (both ends of 5,000 socketpairs that never fire): both
                times and their ratio.
``echo``        a raw-socket TCP echo server on 127.0.0.1 built on read
                handlers (``add_handler`` / ``add_reader``) in the measured
                process, under the echo load (below); requests per second,
                the server's CPU time per request and how busy both sides
                were.
``proto_echo``  the same load on an ``asyncio.Protocol`` echo server made by
                ``loop.create_server`` (asyncio loops only: ioloop's asyncio
                face, its pure-Python twin's, asyncio, uvloop, rloop).
``stream_echo`` the same on an ``asyncio.start_server`` streams echo
                (``reader.read``, ``writer.write``, ``await writer.drain()``).
``tornado_echo`` the same on a Tornado ``TCPServer`` whose ``IOStream``
                echoes (``read_bytes(64, partial=True)``, ``await write``),
                Tornado running on the asyncio loop under test (ioloop's
                asyncio face, asyncio, uvloop).
``memory``      bytes per pending timer: RSS growth (``/proc/self/statm``)
                while N timers (delays 1-2 h, never firing) are scheduled,
                divided by N.
``call_later``  (not run by default) N ``call_later(0, f)``, then run.

The peers: ``ioloop`` (``ioloop.IOLoop``, classic API: ``add_callback``,
``call_later``/``remove_timeout``, ``add_handler``/``update_handler``),
``ioloop-asyncio`` (the same loop through its asyncio API: ``call_soon``,
``call_soon_threadsafe``, ``add_reader``/``add_writer``), ``ioloop-py`` (the
pure-Python twin, ``IOLOOP_NO_EXTENSIONS=1``, classic API), ``asyncio``,
``uvloop`` and ``rloop`` (asyncio API) and ``tornado``
(``tornado.ioloop.IOLoop`` on asyncio, classic API as Tornado users have
it). A peer that is not installed is reported as skipped, and so is a
workload that needs a library that is not (``tornado_echo`` needs Tornado,
on every loop). ``floor`` is no loop at all: the callbacks called N times
in a plain ``for`` loop (for ``timers``, the live ones; for ``threadsafe``,
taken from a ``deque`` that the second thread fills); for the fd workloads
the bare syscalls (blocking ``send``/``recv``); for the echo workloads an
epoll echo server in C (compiled at start, reported as skipped without a C
compiler; measured once and shown for every echo workload); for ``memory``
a ``heapq`` of ``(deadline, callback)`` tuples.

Which ioloop it measures
------------------------
The one ``import ioloop`` gives (the header names its directory and its
engine, and every worker must import the same). An installation whose
compiled engine did not build or load runs the pure-Python one: the bench
then refuses to measure the ``ioloop`` and ``ioloop-asyncio`` rows, unless
``--allow-python-engine`` (or ``IOLOOP_NO_EXTENSIONS=1``) asks for that
engine, and the output then says which engine those rows ran.

The echo load
-------------
The echo workloads are timed, not counted: N is the length of one timed run
in milliseconds (1 s by default, 2 s with ``--full``). The load generator
is a separate process: a small C program (epoll, no library) compiled with
``$CC``/gcc/cc into a temporary directory when the run starts, or, without a
compiler (or with ``--echo-gen python``), the same protocol in plain Python
(``--echo-load``), which saturates its core near 80k requests/s and is then
likely the bottleneck. It opens 100 connections, makes one priming round
trip on each (the server has accepted them all), then keeps ``--echo-depth``
64-byte messages in flight on each connection (1: request/response; more:
pipelined) for N ms and counts the replies in that window; it stops
sending, waits for what is still in flight and closes. The window's start
and end are announced on its stdout, which the server process watches like
any other fd, so the server's CPU time is read over the same window. On a
2-core machine the server and the generator get one core each; the
kernel's loopback TCP work (charged to both) is most of each request's
cost, so the table notes how busy each side was.

How it measures
---------------
Each (loop, workload) measurement runs in a fresh subprocess
(``python -m ioloop.bench --worker LOOP WORKLOAD N``). With pyperf installed
(the ``bench`` extra) the worker is a ``pyperf.Runner`` in worker mode
(``bench_time_func``, ``loops=1``, ``inner_loops=N``): pyperf runs the
warm-up and the timed values and collects its metadata, and the parent
merges every worker's run into one ``pyperf.Benchmark`` per (loop,
workload), whose statistics the table shows; ``--pyperf-dir`` writes them as
pyperf JSON files (``python -m pyperf compare_to``, ``stats``, ``hist``
read them). Without pyperf the same protocol runs on a built-in harness.
Every workload is a fixed amount of work (N), so pyperf's loop calibration
is not used: one value is one complete run. Each run checks its own work
(every callback ran, no cancelled timer or idle fd fired, every echo came
back). The parent repeats every measurement R times, interleaving the loops
(their order is shuffled for every round and workload) so that drift in the
machine's speed spreads over all of them. Nothing here is a stored result:
every number printed was measured in this run.

The output fits in 120 columns: the echo servers' CPU figures have a table
of their own, and a note too long for its row becomes a numbered footnote
under the table; ``--wide`` keeps every line whole and every note on its row.
"""

import argparse
import atexit
import contextlib
import gc
import heapq
import io
import itertools
import json
import os
import platform
import random
import select
import shutil
import site
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import deque

__all__ = ["main"]

ECHO_WORKLOADS = ("echo", "proto_echo", "stream_echo", "tornado_echo")
WORKLOADS = ("callbacks", "chain", "timers", "threadsafe", "pingpong", "idle") + ECHO_WORKLOADS \
    + ("memory",)
EXTRA_WORKLOADS = ("call_later",)
ALL_WORKLOADS = WORKLOADS + EXTRA_WORKLOADS
FD_WORKLOADS = ("pingpong", "idle") + ECHO_WORKLOADS
LOOPS = ("ioloop", "ioloop-asyncio", "ioloop-py", "asyncio", "uvloop", "rloop", "tornado")
FLOOR = "floor"
PEERS = (FLOOR,) + LOOPS

# The workloads written against asyncio's own server APIs (or Tornado's
# TCPServer, which runs on the current asyncio loop) run on the asyncio
# loops only: for ioloop that is its asyncio face ("ioloop-asyncio", and
# "ioloop-py" for the twin's), the ratio column's baseline there. The
# "ioloop" row (classic API) and "tornado" (Tornado's IOLoop on the stdlib
# loop: the asyncio row again) do not apply. Every other workload runs on
# every loop. The floor of every echo workload is the same C server: it is
# measured once, under the first echo workload of the run.
APPLICABLE = {
    "proto_echo": (FLOOR, "ioloop-asyncio", "ioloop-py", "asyncio", "uvloop", "rloop"),
    "stream_echo": (FLOOR, "ioloop-asyncio", "ioloop-py", "asyncio", "uvloop", "rloop"),
    "tornado_echo": (FLOOR, "ioloop-asyncio", "asyncio", "uvloop"),
}
ASYNCIO_API_WORKLOADS = ("proto_echo", "stream_echo", "tornado_echo")
# Workloads that need a library besides the loop under test (Tornado's
# TCPServer serves tornado_echo on every loop, ioloop's included): without
# it, every row of the workload is skipped, with that reason.
REQUIRES = {"tornado_echo": "tornado"}

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
}
DEFAULT_N = {
    "callbacks": 150_000, "chain": 100_000, "timers": 40_000, "threadsafe": 60_000,
    "pingpong": 20_000, "idle": 8_000, "memory": 1_000_000, "call_later": 100_000,
    "echo": 1_000, "proto_echo": 1_000, "stream_echo": 1_000, "tornado_echo": 1_000,
}
QUICK_N = {
    "callbacks": 20_000, "chain": 20_000, "timers": 5_000, "threadsafe": 10_000,
    "pingpong": 3_000, "idle": 1_000, "memory": 50_000, "call_later": 10_000,
    "echo": 200, "proto_echo": 200, "stream_echo": 200, "tornado_echo": 200,
}
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

# What the columns of the table mean: printed below it.
_LEGEND = (
    "runs: worker processes x values in each. median: over all values. ns: wall time of one "
    "run (scheduling + running) / N. spread: (max - min) / median.",
    "vs ioloop: cost (time or bytes) / ioloop's (for proto_echo, stream_echo and tornado_echo: "
    "/ ioloop-asyncio's); below 1.00x is cheaper than ioloop. The floor row's ratio is the share "
    "of ioloop's cost that is the bare callbacks or syscalls. idle (K fds): the note is its time "
    "/ the time with no idle fd.",
    "echo workloads: N is the length of one timed run; req/s as the load generator counted "
    "them. server CPU: the server process's CPU time (user + system) per request; busy: CPU "
    "time / wall time (the kernel's TCP work, charged to both sides, is most of it).",
    "memory: bytes per pending timer (RSS growth / N).",
)

PING = b"x"


def _noop():
    pass


def _pyperf():
    """The pyperf module, or None when it is not installed."""
    try:
        import pyperf
    except ImportError:
        return None
    return pyperf


# ---------------------------------------------------------------------------
# Worker side: the loops' APIs.
# ---------------------------------------------------------------------------

class _Api:
    """The calls of one loop, bound once so the timed code makes the same
    number of Python-level calls for every loop.

    ``classic``: Tornado-style (``add_handler``, handlers get ``(fd,
    events)``, ``remove_timeout``); otherwise asyncio-style (``add_reader``,
    callbacks get no arguments, ``handle.cancel()``)."""

    __slots__ = ("name", "loop", "classic", "soon", "threadsafe", "later", "remove",
                 "run", "stop", "close", "READ", "WRITE", "ERROR")

    def __init__(self, name, loop, classic):
        self.name = name
        self.loop = loop
        self.classic = classic
        self.later = loop.call_later
        self.stop = loop.stop
        self.close = loop.close
        if classic:
            self.soon = loop.add_callback
            self.threadsafe = loop.add_callback
            self.remove = loop.remove_timeout
            self.run = loop.start
            self.READ, self.WRITE, self.ERROR = loop.READ, loop.WRITE, loop.ERROR
        else:
            self.soon = loop.call_soon
            self.threadsafe = loop.call_soon_threadsafe
            self.remove = None
            self.run = loop.run_forever
            self.READ = self.WRITE = self.ERROR = None

    def add_reader(self, fd, handler):
        """``handler`` must accept both call shapes: ``()`` and ``(fd, events)``."""
        if self.classic:
            self.loop.add_handler(fd, handler, self.READ)
        else:
            self.loop.add_reader(fd, handler)

    def remove_reader(self, fd):
        if self.classic:
            self.loop.remove_handler(fd)
        else:
            self.loop.remove_reader(fd)


def _make_api(name, asyncio_api=False):
    """``asyncio_api``: for the workloads on asyncio's server APIs, the
    twin (ioloop-py) through its asyncio face too."""
    if name in ("ioloop", "ioloop-py") and not asyncio_api:
        import ioloop
        return _Api(name, ioloop.IOLoop(), classic=True)
    if name == "ioloop-py":
        import ioloop
        return _Api(name, ioloop.new_event_loop(), classic=False)
    if name == "ioloop-asyncio":
        import ioloop
        return _Api(name, ioloop.new_event_loop(), classic=False)
    if name == "asyncio":
        import asyncio
        return _Api(name, asyncio.new_event_loop(), classic=False)
    if name == "uvloop":
        import uvloop
        return _Api(name, uvloop.new_event_loop(), classic=False)
    if name == "rloop":
        import rloop
        return _Api(name, rloop.new_event_loop(), classic=False)
    if name == "tornado":
        import tornado.ioloop
        return _Api(name, tornado.ioloop.IOLoop(make_current=False), classic=True)
    raise ValueError(f"unknown loop {name!r}")


# ---------------------------------------------------------------------------
# Worker side: the harness (pyperf, or a built-in stand-in).
# ---------------------------------------------------------------------------

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

    def record(self, name, values, unit, n, duration, warmups=(), inner_loops=True):
        """A benchmark measured by hand (memory, the timed echo runs):
        pyperf's Run and Benchmark carry it when pyperf is there, so its JSON
        and statistics are pyperf's. ``values`` are per operation already;
        ``duration``: seconds the measurement took (pyperf would otherwise
        take the raw values for seconds). ``inner_loops=False``: the values
        are not over a fixed count (pyperf's runs must agree on it)."""
        doc = None
        if self._runner is not None:
            pyperf = self._pyperf
            metadata = dict(self.metadata, name=name, unit=unit, loops=1, duration=duration)
            if inner_loops:
                metadata["inner_loops"] = n
            run = pyperf.Run(values, warmups=[(1, w) for w in warmups] or None,
                             metadata=metadata, collect_metadata=True)
            doc = self._bench_json(pyperf.Benchmark([run]))
        return {"name": name, "unit": unit, "n": n, "values": list(values),
                "warmups": list(warmups), "pyperf": doc}


# ---------------------------------------------------------------------------
# Worker side: workloads. Each returns a list of benchmark records (and may
# add to ``extra``, which goes into the worker's JSON).
# ---------------------------------------------------------------------------

class _Skip(Exception):
    """The workload cannot run on this machine (reported as skipped)."""


def _timed(run_once, warmups):
    """A pyperf time function over ``run_once(checked) -> ns``; the first
    ``warmups`` calls are the warm-ups (``checked``: count the work)."""
    calls = [0]

    def time_func(loops):
        total = 0
        for _ in range(loops):
            checked = calls[0] < warmups
            calls[0] += 1
            total += run_once(checked)
        return total / 1e9

    return time_func


def _counting(n, what):
    """A counting callback and a check that it ran ``n`` times."""
    count = 0

    def counting():
        nonlocal count
        count += 1

    def check():
        if count != n:
            raise RuntimeError(f"{what}: {count} of {n} callbacks ran")

    return counting, check


def _wl_callbacks(api, n, harness, opts, extra, later=False):
    name = "call_later" if later else "callbacks"

    def run_once(checked):
        callback, check = _counting(n, name) if checked else (_noop, None)
        if api is None:
            t0 = time.perf_counter_ns()
            for _ in itertools.repeat(None, n):
                callback()
            elapsed = time.perf_counter_ns() - t0
        elif later:
            schedule = api.later
            t0 = time.perf_counter_ns()
            for _ in itertools.repeat(None, n):
                schedule(0, callback)
            schedule(0, api.stop)
            api.run()
            elapsed = time.perf_counter_ns() - t0
        else:
            soon = api.soon
            t0 = time.perf_counter_ns()
            for _ in itertools.repeat(None, n):
                soon(callback)
            soon(api.stop)
            api.run()
            elapsed = time.perf_counter_ns() - t0
        if check is not None:
            check()
        return elapsed

    return [harness.time(name, _timed(run_once, harness.warmups), n)]


def _wl_call_later(api, n, harness, opts, extra):
    return _wl_callbacks(api, n, harness, opts, extra, later=True)


def _chain(api, n):
    """Run ``n`` callbacks on ``api``'s loop, each scheduling the next (one
    loop iteration each); returns how many steps did not run."""
    left = n
    soon = api.soon
    stop = api.stop

    def step():
        nonlocal left
        left -= 1
        if left:
            soon(step)
        else:
            stop()

    soon(step)
    api.run()
    return left


def _wl_chain(api, n, harness, opts, extra):
    def run_once(checked):
        if api is None:
            left = n

            def step():
                nonlocal left
                left -= 1

            t0 = time.perf_counter_ns()
            while left:
                step()
            elapsed = time.perf_counter_ns() - t0
        else:
            t0 = time.perf_counter_ns()
            left = _chain(api, n)
            elapsed = time.perf_counter_ns() - t0
        if left:
            raise RuntimeError(f"chain: {n - left} of {n} steps ran")
        return elapsed

    return [harness.time("chain", _timed(run_once, harness.warmups), n)]


def _wl_timers(api, n, harness, opts, extra):
    """Timers at even indices are live, odd ones are cancelled before the
    loop runs; the last live timer to fire stops the loop. The floor calls
    the live callbacks (the time is still divided by N, the timers set)."""
    rng = random.Random(TIMER_SEED)
    delays = [rng.random() * MAX_TIMER_DELAY for _ in range(n)]
    live = (n + 1) // 2

    def run_once(checked):
        fired = 0
        cancelled_fired = 0
        stop = api.stop if api is not None else _noop

        def on_live():
            nonlocal fired
            fired += 1
            if fired == live:
                stop()

        def on_cancelled():
            nonlocal cancelled_fired
            cancelled_fired += 1

        if api is None:
            t0 = time.perf_counter_ns()
            for _ in itertools.repeat(None, live):
                on_live()
            elapsed = time.perf_counter_ns() - t0
        else:
            later = api.later
            remove = api.remove
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
        if fired != live or cancelled_fired:
            raise RuntimeError(f"timers: {fired} of {live} live timers fired, "
                               f"{cancelled_fired} cancelled ones fired")
        return elapsed

    return [harness.time("timers", _timed(run_once, harness.warmups), n)]


def _wl_threadsafe(api, n, harness, opts, extra):
    """A second thread submits n callbacks; timed from the loop's start
    until the last one has run. The floor: the thread appends to a deque
    that the main thread drains and calls (spinning while it is empty)."""

    def run_once(checked):
        count = 0
        go = threading.Event()
        if api is None:
            queue = deque()
            submit = queue.append
        else:
            submit = api.threadsafe
            stop = api.stop

        def callback():
            nonlocal count
            count += 1
            if count == n and api is not None:
                stop()

        def producer():
            go.wait()
            for _ in itertools.repeat(None, n):
                submit(callback)

        thread = threading.Thread(target=producer, name="bench-producer", daemon=True)
        thread.start()
        if api is None:
            popleft = queue.popleft
            sleep = time.sleep
            t0 = time.perf_counter_ns()
            go.set()
            while count < n:
                try:
                    popleft()()
                except IndexError:
                    sleep(0)  # let the producer have the GIL
            elapsed = time.perf_counter_ns() - t0
        else:
            api.soon(go.set)
            t0 = time.perf_counter_ns()
            api.run()
            elapsed = time.perf_counter_ns() - t0
        thread.join()
        if count != n:
            raise RuntimeError(f"threadsafe: {count} of {n} callbacks ran")
        return elapsed

    return [harness.time("threadsafe", _timed(run_once, harness.warmups), n)]


def _socketpairs(count, blocking=False):
    pairs = []
    try:
        for _ in range(count):
            a, b = socket.socketpair()
            a.setblocking(blocking)
            b.setblocking(blocking)
            pairs.append((a, b))
    except BaseException:
        _close_pairs(pairs)
        raise
    return pairs


def _close_pairs(pairs):
    for a, b in pairs:
        a.close()
        b.close()


def _pingpong_once(api, npairs, total):
    """``npairs`` socketpairs, one byte in flight in each; ``b``'s handler
    echoes it, ``a``'s counts a round trip and sends the next until
    ``total`` round trips are done. Setup and teardown are not timed."""
    pairs = _socketpairs(npairs, blocking=api is None)
    try:
        if api is None:
            # The floor: the same syscalls, blocking, no poll at all.
            calls = [(a.send, b.recv, b.send, a.recv) for a, b in pairs]
            rounds, rest = divmod(total, npairs)
            t0 = time.perf_counter_ns()
            for _ in itertools.repeat(None, rounds):
                for a_send, b_recv, b_send, a_recv in calls:
                    a_send(PING)
                    b_send(b_recv(1))
                    a_recv(1)
            for a_send, b_recv, b_send, a_recv in calls[:rest]:
                a_send(PING)
                b_send(b_recv(1))
                a_recv(1)
            return time.perf_counter_ns() - t0, total
        count = 0
        stop = api.stop
        fds = []

        def handlers(a, b):
            a_recv, a_send, b_recv, b_send = a.recv, a.send, b.recv, b.send

            # Both call shapes: () for add_reader, (fd, events) for add_handler.
            def on_b(_fd=None, _events=None):
                b_send(b_recv(1))

            def on_a(_fd=None, _events=None):
                nonlocal count
                a_recv(1)
                count += 1
                if count < total:
                    a_send(PING)
                elif count == total:
                    stop()

            return on_a, on_b

        try:
            for a, b in pairs:
                on_a, on_b = handlers(a, b)
                api.add_reader(b.fileno(), on_b)
                fds.append(b.fileno())
                api.add_reader(a.fileno(), on_a)
                fds.append(a.fileno())
            t0 = time.perf_counter_ns()
            for a, _b in pairs[:total]:
                a.send(PING)
            api.run()
            elapsed = time.perf_counter_ns() - t0
        finally:
            for fd in fds:
                api.remove_reader(fd)
        if count < total:
            raise RuntimeError(f"pingpong: {count} of {total} round trips")
        return elapsed, count
    finally:
        _close_pairs(pairs)


def _wl_pingpong(api, n, harness, opts, extra):
    npairs = opts.get("pairs", PINGPONG_PAIRS)

    def run_once(checked):
        elapsed, _count = _pingpong_once(api, npairs, n)
        return elapsed

    extra["pairs"] = npairs
    return [harness.time("pingpong", _timed(run_once, harness.warmups), n)]


def _raise_nofile(needed):
    """Raise RLIMIT_NOFILE's soft limit to ``needed`` (and the hard one when
    allowed). Returns a note, or raises _Skip."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        raise _Skip("no resource module: cannot check RLIMIT_NOFILE") from None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return f"RLIMIT_NOFILE {soft}"
    if hard == resource.RLIM_INFINITY or hard >= needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return f"RLIMIT_NOFILE soft limit raised {soft} -> {needed}"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
    except (ValueError, OSError) as exc:
        raise _Skip(f"needs {needed} fds; RLIMIT_NOFILE is {soft}/{hard} and cannot be "
                    f"raised ({exc})") from None
    return f"RLIMIT_NOFILE raised {soft}/{hard} -> {needed}/{needed}"


def _wl_idle(api, n, harness, opts, extra):
    """One active socketpair: n round trips with no other fd registered,
    then the same with ``idle_fds`` registered fds that never fire."""
    idle_fds = opts.get("idle_fds", IDLE_FDS)
    npairs = (idle_fds + 1) // 2
    extra["rlimit"] = _raise_nofile(2 * npairs + 256)
    extra["idle_fds"] = 2 * npairs

    def run_once(checked):
        elapsed, _count = _pingpong_once(api, 1, n)
        return elapsed

    results = [harness.time("idle-0", _timed(run_once, harness.warmups), n)]
    idle = _socketpairs(npairs)
    registered = []
    fired = 0

    def on_idle(_fd=None, _events=None):
        nonlocal fired
        fired += 1

    try:
        if api is not None:
            for a, b in idle:
                for s in (a, b):
                    api.add_reader(s.fileno(), on_idle)
                    registered.append(s.fileno())
        results.append(harness.time(f"idle-{2 * npairs}", _timed(run_once, harness.warmups), n))
    finally:
        for fd in registered:
            api.remove_reader(fd)
        _close_pairs(idle)
    if fired:
        raise RuntimeError(f"idle: idle fds fired {fired} times")
    return results


# -- echo ---------------------------------------------------------------------

def _tune(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# The echo logic both servers share; each server only wires it to its
# loop's own API (add_handler/update_handler or add_reader/add_writer).
_ECHO_CLOSE, _ECHO_WANT_WRITE, _ECHO_MORE, _ECHO_FLUSHED = range(4)


def _echo_on_readable(recv, send, pending):
    """Read and echo back; buffer what the kernel will not take now."""
    try:
        data = recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        data = b""
    if not data:
        return _ECHO_CLOSE
    if pending:
        pending.append(data)
        return None
    try:
        sent = send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        return _ECHO_CLOSE
    if sent < len(data):
        pending.append(data[sent:])
        return _ECHO_WANT_WRITE
    return None


def _echo_on_writable(send, pending):
    """Flush the buffer: _ECHO_MORE while the kernel is full."""
    while pending:
        data = pending[0]
        try:
            sent = send(data)
        except BlockingIOError:
            return _ECHO_MORE
        except OSError:
            pending.clear()
            return _ECHO_CLOSE
        if sent < len(data):
            pending[0] = data[sent:]
            return _ECHO_MORE
        pending.pop(0)
    return _ECHO_FLUSHED


def _echo_accept_all(lsock, serve):
    while True:
        try:
            conn, _addr = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        _tune(conn)
        serve(conn)


def _echo_server_classic(api, lsock):
    """Raw-socket echo server on ``add_handler``/``update_handler``."""
    loop = api.loop
    READ, WRITE = api.READ, api.WRITE

    def serve(conn):
        recv, send = conn.recv, conn.send
        pending = []

        def on_conn(fd, events):
            if events & WRITE:
                state = _echo_on_writable(send, pending)
                if state == _ECHO_FLUSHED:
                    loop.update_handler(conn, READ)
            else:
                state = _echo_on_readable(recv, send, pending)
                if state == _ECHO_WANT_WRITE:
                    loop.update_handler(conn, READ | WRITE)
            if state == _ECHO_CLOSE:
                loop.remove_handler(conn)
                conn.close()

        loop.add_handler(conn, on_conn, READ)

    loop.add_handler(lsock, lambda fd, events: _echo_accept_all(lsock, serve), READ)
    return lambda: loop.remove_handler(lsock)


def _echo_server_asyncio(api, lsock):
    """Raw-socket echo server on ``add_reader``/``add_writer``."""
    loop = api.loop

    def serve(conn):
        fd = conn.fileno()
        recv, send = conn.recv, conn.send
        pending = []

        def close():
            loop.remove_reader(fd)
            loop.remove_writer(fd)
            conn.close()

        def on_write():
            state = _echo_on_writable(send, pending)
            if state == _ECHO_FLUSHED:
                loop.remove_writer(fd)
            elif state == _ECHO_CLOSE:
                close()

        def on_read():
            state = _echo_on_readable(recv, send, pending)
            if state == _ECHO_WANT_WRITE:
                loop.add_writer(fd, on_write)
            elif state == _ECHO_CLOSE:
                close()

        loop.add_reader(fd, on_read)

    loop.add_reader(lsock.fileno(), _echo_accept_all, lsock, serve)
    return lambda: loop.remove_reader(lsock.fileno())


def _echo_server_protocol(loop, lsock):
    """``proto_echo``: an ``asyncio.Protocol`` whose ``data_received``
    writes the data back, served by ``loop.create_server(sock=...)``."""
    import asyncio

    class EchoProtocol(asyncio.Protocol):
        __slots__ = ("write",)

        def connection_made(self, transport):
            self.write = transport.write

        def data_received(self, data):
            self.write(data)

        def eof_received(self):
            return False    # close the transport

    server = loop.run_until_complete(loop.create_server(EchoProtocol, sock=lsock, backlog=1024))
    return server.close


def _echo_server_streams(loop, lsock):
    """``stream_echo``: ``asyncio.start_server``; each connection's task
    reads (``reader.read``), writes and awaits ``writer.drain()``."""
    import asyncio

    async def handle(reader, writer):
        read, write, drain = reader.read, writer.write, writer.drain
        try:
            while True:
                data = await read(65536)
                if not data:
                    break
                write(data)
                await drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def start():
        return await asyncio.start_server(handle, sock=lsock, backlog=1024)

    server = loop.run_until_complete(start())
    return server.close


def _echo_server_tornado(loop, lsock):
    """``tornado_echo``: a ``tornado.tcpserver.TCPServer`` on the asyncio
    loop under test (Tornado's ``IOLoop.current()`` wraps it); each stream
    echoes with ``read_bytes(64, partial=True)`` and ``await write``."""
    from tornado.iostream import StreamClosedError
    from tornado.tcpserver import TCPServer

    size = ECHO_SIZE

    class EchoServer(TCPServer):
        async def handle_stream(self, stream, address):
            read_bytes, write = stream.read_bytes, stream.write
            try:
                while True:
                    await write(await read_bytes(size, partial=True))
            except StreamClosedError:
                pass

    server = EchoServer()

    async def start():
        server.add_sockets([lsock])

    loop.run_until_complete(start())
    return server.stop


def _asyncio_teardown(loop, stop_server):
    """Stop serving, let the connections' last events run, cancel what is
    left (the stream and Tornado handlers of connections that are gone)."""
    import asyncio

    stop_server()

    async def settle():
        await asyncio.sleep(0.05)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop.run_until_complete(settle())


# -- echo: the C tools (the floor server and the load generator) ------------

_ECHO_SERVER_C = r"""
/* The echo floor: an epoll echo server in C, no loop library. Usage:
   server LISTEN_FD (an inherited listening socket). Each line on stdin is
   answered with this process's CPU time in ns; EOF on stdin ends it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
typedef struct { char *buf; size_t len, cap; } pend_t;
static pend_t *pend[MAXFD];

static long long cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if (pend[fd]) { free(pend[fd]->buf); free(pend[fd]); pend[fd] = NULL; }
}

/* Keep what the kernel would not take; watch for writability. */
static int queue(int ep, int fd, const char *data, size_t n) {
    pend_t *p = pend[fd];
    if (!p) {
        p = pend[fd] = calloc(1, sizeof(pend_t));
        if (!p) return -1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
    if (p->len + n > p->cap) {
        size_t cap = (p->len + n) * 2;
        char *b = realloc(p->buf, cap);
        if (!b) return -1;
        p->buf = b; p->cap = cap;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;
    return 0;
}

/* 0: all flushed, 1: more to go, -1: error */
static int flush(int ep, int fd) {
    pend_t *p = pend[fd];
    size_t off = 0;
    while (off < p->len) {
        ssize_t w = send(fd, p->buf + off, p->len - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return -1;
        }
        off += (size_t)w;
    }
    memmove(p->buf, p->buf + off, p->len - off);
    p->len -= off;
    if (p->len) return 1;
    free(p->buf); free(p); pend[fd] = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    return 0;
}

int main(int argc, char **argv) {
    static char buf[65536];
    struct epoll_event evs[256];
    char line[64];
    size_t line_len = 0;
    if (argc != 2) { fprintf(stderr, "usage: %s LISTEN_FD\n", argv[0]); return 2; }
    int lfd = atoi(argv[1]);
    int ep = epoll_create1(0);
    if (ep < 0) { perror("epoll_create1"); return 1; }
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) { perror("listening fd"); return 1; }
    ev.data.fd = 0;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) { perror("stdin"); return 1; }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) break;
                    if (c >= MAXFD) { close(c); continue; }
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
            } else if (fd == 0) {
                ssize_t r = read(0, line + line_len, sizeof line - 1 - line_len);
                if (r <= 0) return 0;
                line_len += (size_t)r;
                char *nl;
                while ((nl = memchr(line, '\n', line_len))) {
                    printf("%lld\n", cpu_ns());
                    fflush(stdout);
                    line_len -= (size_t)(nl + 1 - line);
                    memmove(line, nl + 1, line_len);
                }
                if (line_len >= sizeof line - 1) line_len = 0;
            } else {
                if ((evs[i].events & EPOLLOUT) && pend[fd]) {
                    if (flush(ep, fd) < 0) { drop(ep, fd); continue; }
                }
                if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                if (r < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
                    drop(ep, fd);
                    continue;
                }
                if (r == 0) { drop(ep, fd); continue; }
                if (pend[fd]) {
                    if (queue(ep, fd, buf, (size_t)r) < 0) drop(ep, fd);
                    continue;
                }
                ssize_t off = 0;
                while (off < r) {
                    ssize_t w = send(fd, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
                    if (w < 0) {
                        if (errno == EINTR) continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                        off = -1;
                        break;
                    }
                    off += w;
                }
                if (off < 0) drop(ep, fd);
                else if (off < r && queue(ep, fd, buf + off, (size_t)(r - off)) < 0) drop(ep, fd);
            }
        }
    }
}
"""

_ECHO_LOAD_C = r"""
/* Echo load generator in C: one process, epoll, CONNS connections each
   keeping DEPTH messages of SIZE bytes in flight. For every line "run MS"
   on stdin: connect, one priming round trip per connection (the server
   has accepted them all), then MS milliseconds of load; the replies
   received in that window are counted. Then it stops sending, waits for
   the replies still in flight, closes, and prints one JSON line
   {"requests", "elapsed_ns", "cpu_ns"} (or {"error"}). The window's start
   and end are announced as they happen: {"event": "start"} and
   {"event": "end"} lines (the server side reads its CPU clock on them).
   Usage: load PORT CONNS SIZE DEPTH STALL_MS */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct { int fd, want_out; size_t got, to_send; long inflight; } conn_t;

static int port, nconns, ep = -1;
static long stall_ms;
static size_t size, depth, msg_len;
static char *msg;
static conn_t *conns;
static char err[256];

static long long clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Send what is owed; watch for writability while the kernel is full. */
static int pump(conn_t *c) {
    while (c->to_send) {
        size_t n = c->to_send < msg_len ? c->to_send : msg_len;
        ssize_t w = send(c->fd, msg, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            snprintf(err, sizeof err, "send: %s", strerror(errno));
            return -1;
        }
        c->to_send -= (size_t)w;
    }
    int want = c->to_send > 0;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                 .data.u32 = (uint32_t)(c - conns)};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    return 0;
}

/* Read what is there: completed replies, or -1. */
static long on_readable(conn_t *c) {
    static char sink[65536];
    ssize_t r = recv(c->fd, sink, sizeof sink, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        snprintf(err, sizeof err, "recv: %s", strerror(errno));
        return -1;
    }
    if (r == 0) { snprintf(err, sizeof err, "the server closed a connection"); return -1; }
    c->got += (size_t)r;
    long k = (long)(c->got / size);
    c->got %= size;
    c->inflight -= k;
    return k;
}

/* One epoll_wait and its events (resending when `sending`): completed
   replies, or -1. */
static long step(int timeout_ms, int sending) {
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        snprintf(err, sizeof err, "epoll_wait: %s", strerror(errno));
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[evs[i].data.u32];
        if ((evs[i].events & EPOLLOUT) && pump(c) < 0) return -1;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            long k = on_readable(c);
            if (k < 0) return -1;
            done += k;
            if (sending && k) {
                c->inflight += k;
                c->to_send += (size_t)k * size;
                if (pump(c) < 0) return -1;
            }
        }
    }
    return done;
}

static long total_inflight(void) {
    long t = 0;
    for (int i = 0; i < nconns; i++) t += conns[i].inflight;
    return t;
}

/* Wait until nothing is in flight (no resending): 0, or -1. */
static int drain(void) {
    long long last = clock_ns(CLOCK_MONOTONIC);
    while (total_inflight() > 0) {
        long k = step(100, 0);
        if (k < 0) return -1;
        long long now = clock_ns(CLOCK_MONOTONIC);
        if (k > 0) last = now;
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no reply for %ld ms", stall_ms);
            return -1;
        }
    }
    return 0;
}

static int run(long ms, long long *requests, long long *elapsed, long long *cpu) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            snprintf(err, sizeof err, "connect: %s", strerror(errno));
            return -1;
        }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (ioctl(c->fd, FIONBIO, &one) < 0) {
            snprintf(err, sizeof err, "FIONBIO: %s", strerror(errno));
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            snprintf(err, sizeof err, "epoll_ctl: %s", strerror(errno));
            return -1;
        }
    }
    for (int i = 0; i < nconns; i++) {
        conns[i].inflight = 1;
        conns[i].to_send = size;
        if (pump(&conns[i]) < 0) return -1;
    }
    if (drain() < 0) return -1;
    printf("{\"event\": \"start\"}\n");
    fflush(stdout);
    long long t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long deadline = t0 + ms * 1000000LL, last = t0;
    long long done = 0;
    for (int i = 0; i < nconns; i++) {
        conns[i].inflight = (long)depth;
        conns[i].to_send = depth * size;
        if (pump(&conns[i]) < 0) return -1;
    }
    for (;;) {
        long long now = clock_ns(CLOCK_MONOTONIC);
        long long left_ms = (deadline - now + 999999) / 1000000;
        if (left_ms <= 0) break;
        long k = step((int)(left_ms < 100 ? left_ms : 100), 1);
        if (k < 0) return -1;
        now = clock_ns(CLOCK_MONOTONIC);
        if (now >= deadline) break;     /* this batch is past the window */
        if (k > 0) { done += k; last = now; }
        else if (now - last > stall_ms * 1000000LL) {
            snprintf(err, sizeof err, "no reply for %ld ms", stall_ms);
            return -1;
        }
    }
    *cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"event\": \"end\"}\n");
    fflush(stdout);
    *requests = done;
    *elapsed = last - t0;
    if (drain() < 0) return -1;
    if (done == 0) { snprintf(err, sizeof err, "no reply within the timed window"); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT CONNS SIZE DEPTH STALL_MS\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]); nconns = atoi(argv[2]);
    size = (size_t)atol(argv[3]); depth = (size_t)atol(argv[4]); stall_ms = atol(argv[5]);
    if (port <= 0 || nconns <= 0 || size == 0 || depth == 0 || stall_ms <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    msg_len = size * depth < 65536 ? 65536 : size * depth;
    msg = malloc(msg_len);
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!msg || !conns) return 1;
    memset(msg, 'x', msg_len);
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        long ms;
        if (sscanf(line, "run %ld", &ms) != 1 || ms <= 0) {
            printf("{\"error\": \"bad command\"}\n");
            fflush(stdout);
            return 2;
        }
        memset(conns, 0, (size_t)nconns * sizeof *conns);
        for (int i = 0; i < nconns; i++) conns[i].fd = -1;
        long long requests = 0, elapsed = 0, cpu = 0;
        err[0] = 0;
        ep = epoll_create1(0);
        int rc = ep < 0 ? -1 : run(ms, &requests, &elapsed, &cpu);
        for (int i = 0; i < nconns; i++)
            if (conns[i].fd >= 0) close(conns[i].fd);
        if (ep >= 0) close(ep);
        if (rc < 0)
            printf("{\"error\": \"%s\"}\n", err[0] ? err : "failed");
        else
            printf("{\"requests\": %lld, \"elapsed_ns\": %lld, \"cpu_ns\": %lld}\n",
                   requests, elapsed, cpu);
        fflush(stdout);
        if (rc < 0) return 1;
    }
    return 0;
}
"""

_C_TOOLS = {"server": _ECHO_SERVER_C, "load": _ECHO_LOAD_C}


def _c_compiler():
    """The C compiler's command (``$CC``, else gcc, else cc), or None."""
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name:
            found = shutil.which(name.split()[0])
            if found:
                return [found] + name.split()[1:]
    return None


def _build_c_tools(directory):
    """Compile the echo floor server and the C load generator into
    ``directory``. Returns ``{"ok", "compiler", "error", "dir"}``."""
    cc = _c_compiler()
    info = {"ok": False, "compiler": None, "error": None, "dir": directory}
    if cc is None:
        info["error"] = "no C compiler (gcc/cc not found)"
        return info
    try:
        version = subprocess.run(cc + ["--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()
        info["compiler"] = version[0].strip() if version else os.path.basename(cc[0])
        for name, source in _C_TOOLS.items():
            src = os.path.join(directory, f"echo_{name}.c")
            with open(src, "w") as f:
                f.write(source)
            proc = subprocess.run(cc + ["-O2", "-o", os.path.join(directory, f"echo_{name}"),
                                        src], capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                info["error"] = f"{' '.join(cc)} failed on echo_{name}.c: {_tail(proc.stderr, 5)}"
                return info
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return info
    info["ok"] = True
    return info


_c_tools_cache = {}


def _c_tool(name, c_dir):
    """Path of a compiled C tool, or None. ``c_dir``: where the parent
    built them; a worker started by hand (no ``c_dir``) builds its own."""
    if c_dir:
        path = os.path.join(c_dir, f"echo_{name}")
        return path if os.access(path, os.X_OK) else None
    if "info" not in _c_tools_cache:
        directory = tempfile.mkdtemp(prefix="ioloop-bench-")
        atexit.register(shutil.rmtree, directory, True)
        _c_tools_cache["info"] = _build_c_tools(directory)
    info = _c_tools_cache["info"]
    return os.path.join(info["dir"], f"echo_{name}") if info["ok"] else None


# -- echo: the timed runs -----------------------------------------------------

def _wl_echo(api, ms, harness, opts, extra, workload="echo"):
    """One echo server (``workload`` picks which; the floor is the C
    server) and one load generator process (C, or this module's
    ``--echo-load``) for the whole worker. Each run: the generator connects,
    primes every connection, loads the server for ``ms`` milliseconds (the
    warm-ups for at most ECHO_WARMUP_MS) and reports the replies it counted
    in that window; one value is seconds per request."""
    conns = opts.get("conns", ECHO_CONNS)
    size = opts.get("size", ECHO_SIZE)
    depth = opts.get("depth", ECHO_DEPTH)
    gen_kind = opts.get("gen", "c")
    c_dir = opts.get("c_dir")
    floor_bin = None
    if api is None:
        floor_bin = _c_tool("server", c_dir)
        if floor_bin is None:
            raise _Skip("the C echo server could not be built (no C compiler?)")
    load_bin = _c_tool("load", c_dir) if gen_kind == "c" else None
    if gen_kind == "c" and load_bin is None:
        raise RuntimeError("echo: the C load generator could not be built "
                           "(--echo-gen python uses the Python one)")
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1024)
    port = lsock.getsockname()[1]
    stall_ms = int(ECHO_STALL_TIMEOUT * 1000)
    if load_bin:
        cmd = [load_bin, str(port), str(conns), str(size), str(depth), str(stall_ms)]
    else:
        cmd = [sys.executable, "-m", "ioloop.bench", "--echo-load", str(port), str(conns),
               str(size), str(depth)]
    server_cpu, server_share, client = [], [], []
    floor = gen = None
    teardown = None
    pipe_fd = None
    state = {"buf": b"", "result": None}
    completed = False
    try:
        gen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        pipe_fd = gen.stdout.fileno()
        if api is None:
            floor = subprocess.Popen([floor_bin, str(lsock.fileno())], pass_fds=(lsock.fileno(),),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            if floor.stdout.readline().strip() != b"ready":
                raise RuntimeError("echo: the C floor server did not start")

            def floor_cpu():
                floor.stdin.write(b"cpu\n")
                return int(floor.stdout.readline())
        else:
            lsock.setblocking(False)
            if workload == "echo":
                stop_server = (_echo_server_classic if api.classic
                               else _echo_server_asyncio)(api, lsock)
                teardown = stop_server
            else:
                import asyncio
                asyncio.set_event_loop(api.loop)

                # What the loop logs (a failing callback or transport)
                # names the cause when a run fails; it still goes to stderr.
                def on_error(loop, context):
                    if "logged" not in state:
                        exc = context.get("exception")
                        state["logged"] = context.get("message", "") + (
                            f": {type(exc).__name__}: {exc}" if exc is not None else "")
                    loop.default_exception_handler(context)

                api.loop.set_exception_handler(on_error)
                start = {"proto_echo": _echo_server_protocol,
                         "stream_echo": _echo_server_streams,
                         "tornado_echo": _echo_server_tornado}[workload]
                stop_server = start(api.loop, lsock)

                def teardown():
                    _asyncio_teardown(api.loop, stop_server)

            # The generator's lines arrive on a pipe that the loop under
            # test watches like any other fd: the window's start and end
            # (the server's CPU clock is read then), then the report, which
            # stops the loop.
            def on_report(_fd=None, _events=None):
                try:
                    chunk = os.read(pipe_fd, 65536)
                except BlockingIOError:
                    return      # a wake-up with nothing to read
                if not chunk:
                    state["result"] = {"error": "the load generator exited"}
                    api.remove_reader(pipe_fd)
                    api.stop()
                    return
                state["buf"] += chunk
                while b"\n" in state["buf"]:
                    line, _, state["buf"] = state["buf"].partition(b"\n")
                    msg = json.loads(line)
                    event = msg.get("event")
                    if event:
                        state[event] = time.process_time_ns()
                    else:
                        state["result"] = msg
                        api.stop()

            # Non-blocking: a loop may call a reader when an earlier call
            # has already drained the pipe (a readiness reported before that
            # read); a blocking read would then wait for the generator, which
            # waits for the next command (a worker hung so once, on rloop).
            os.set_blocking(pipe_fd, False)
            api.add_reader(pipe_fd, on_report)

        def run_once(run_ms):
            state.update(result=None, start=None, end=None)
            gen.stdin.write(f"run {run_ms}\n".encode())
            if api is None:
                while True:
                    line = gen.stdout.readline()
                    msg = json.loads(line) if line else {"error": "the load generator exited"}
                    event = msg.get("event")
                    if not event:
                        state["result"] = msg
                        break
                    state[event] = floor_cpu()
            else:
                api.run()
            result = state["result"]
            if not result or "error" in result:
                logged = (f"; the loop logged: {state['logged']}" if state.get("logged")
                          else "")
                raise RuntimeError(f"{workload}: load generator failed: {result}{logged}")
            if not result.get("requests", 0) > 0:
                raise RuntimeError(f"{workload}: no request answered: {result}")
            if state["start"] is None or state["end"] is None:
                raise RuntimeError(f"{workload}: the generator did not announce its window")
            return result, state["end"] - state["start"]

        warmups = []
        for _ in range(harness.warmups):
            result, _cpu = run_once(min(ms, ECHO_WARMUP_MS))
            warmups.append(result["elapsed_ns"] / 1e9 / result["requests"])
        values = []
        t0 = time.perf_counter()
        for _ in range(harness.values):
            result, cpu = run_once(ms)
            values.append(result["elapsed_ns"] / 1e9 / result["requests"])
            client.append(result)
            server_cpu.append(cpu / result["requests"])
            server_share.append(cpu / result["elapsed_ns"])
        duration = time.perf_counter() - t0
        completed = True
    finally:
        if api is not None and pipe_fd is not None:
            with contextlib.suppress(Exception):
                api.remove_reader(pipe_fd)
        if teardown is not None:
            if completed:
                teardown()
            else:
                # Do not hide the error that got us here.
                with contextlib.suppress(Exception):
                    teardown()
        for proc in (gen, floor):
            if proc is None:
                continue
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        lsock.close()
    extra.update(conns=conns, size=size, depth=depth,
                 generator="c" if load_bin else "python",
                 server="c" if api is None else workload,
                 requests=[r["requests"] for r in client],
                 server_cpu_ns_per_req=server_cpu,
                 server_cpu_share=server_share,
                 client_cpu_share=[r["cpu_ns"] / r["elapsed_ns"] for r in client])
    return [harness.record(workload, values, "second", ms, duration, warmups=warmups,
                           inner_loops=False)]


def _wl_proto_echo(api, ms, harness, opts, extra):
    return _wl_echo(api, ms, harness, opts, extra, workload="proto_echo")


def _wl_stream_echo(api, ms, harness, opts, extra):
    return _wl_echo(api, ms, harness, opts, extra, workload="stream_echo")


def _wl_tornado_echo(api, ms, harness, opts, extra):
    try:
        import tornado.tcpserver  # noqa: F401
    except ImportError as exc:
        raise _Skip(f"needs tornado, not installed ({exc})") from None
    return _wl_echo(api, ms, harness, opts, extra, workload="tornado_echo")


def _echo_load(port, conns, size, depth):
    """The Python load generator (``--echo-load``; used when no C compiler
    is there, or with ``--echo-gen python``): the C generator's protocol
    in plain Python on ``select.epoll``, no event loop library. On each
    ``run MS`` line on stdin: connect ``conns`` connections, one priming
    round trip on each, then ``depth`` messages of ``size`` bytes in flight
    on each for MS milliseconds; count the replies in that window, wait for
    the ones still in flight, close, print one JSON line."""
    out = sys.stdout
    one = b"x" * size
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] != "run" or len(words) != 2:
            out.write(json.dumps({"error": f"bad command {line!r}"}) + "\n")
            out.flush()
            return 2
        ms = int(words[1])
        socks = []
        ep = select.epoll()
        try:
            for _ in range(conns):
                s = socket.create_connection(("127.0.0.1", port))
                socks.append(s)
                _tune(s)
                s.setblocking(False)
            by_fd = {s.fileno(): s for s in socks}
            got = dict.fromkeys(by_fd, 0)
            inflight = dict.fromkeys(by_fd, 0)
            for fd in by_fd:
                ep.register(fd, select.EPOLLIN)
            poll = ep.poll

            def send(s, data):
                sent = s.send(data)
                if sent < len(data):
                    # The kernel is full (not with small messages on
                    # loopback): finish this one blocking.
                    s.setblocking(True)
                    s.sendall(data[sent:])
                    s.setblocking(False)

            def on_events(events, resend):
                done = 0
                for fd, _ev in events:
                    data = by_fd[fd].recv(65536)
                    if not data:
                        raise RuntimeError("the server closed a connection")
                    k, got[fd] = divmod(got[fd] + len(data), size)
                    if k:
                        done += k
                        if resend:
                            send(by_fd[fd], one * k)
                        else:
                            inflight[fd] -= k
                return done

            def drain():
                last = time.monotonic()
                while any(inflight.values()):
                    events = poll(0.1)
                    now = time.monotonic()
                    if events:
                        last = now
                        on_events(events, False)
                    elif now - last > ECHO_STALL_TIMEOUT:
                        raise RuntimeError(f"no reply for {ECHO_STALL_TIMEOUT:g}s")

            for s in socks:
                inflight[s.fileno()] = 1
                send(s, one)
            drain()
            out.write('{"event": "start"}\n')
            out.flush()
            c0 = time.process_time_ns()
            t0 = last = time.perf_counter_ns()
            deadline = t0 + ms * 1_000_000
            batch = one * depth
            for s in socks:
                inflight[s.fileno()] = depth
                send(s, batch)
            done = 0
            while True:
                left = deadline - time.perf_counter_ns()
                if left <= 0:
                    break
                events = poll(min(left / 1e9, 0.1))
                now = time.perf_counter_ns()
                if now >= deadline:
                    # This batch is past the window: count its replies as
                    # in flight no more, without resending.
                    on_events(events, False)
                    break
                if events:
                    done += on_events(events, True)
                    last = now
                elif now - last > ECHO_STALL_TIMEOUT * 1e9:
                    raise RuntimeError(f"no reply for {ECHO_STALL_TIMEOUT:g}s")
            cpu = time.process_time_ns() - c0
            elapsed = last - t0
            out.write('{"event": "end"}\n')
            out.flush()
            drain()
            if not done:
                raise RuntimeError("no reply within the timed window")
            result = {"requests": done, "elapsed_ns": elapsed, "cpu_ns": cpu}
        except (OSError, RuntimeError) as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            ep.close()
            for s in socks:
                s.close()
        out.write(json.dumps(result) + "\n")
        out.flush()
        if "error" in result:
            return 1
    return 0


# -- memory -------------------------------------------------------------------

def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _wl_memory(api, n, harness, opts, extra):
    """RSS growth per pending timer while n timers are scheduled (delays of
    1-2 hours: none fires; the handles are not kept). The floor keeps a
    heapq of (deadline, callback) tuples."""
    rand = random.Random(TIMER_SEED).random
    if api is None:
        heap = []
        push = heapq.heappush
        now = time.monotonic()

        def schedule(delay, callback):
            push(heap, (now + delay, callback))
    else:
        schedule = api.later
        # Warm the scheduling path (and cancel those timers) first.
        handles = [schedule(MEMORY_DELAY, _noop) for _ in range(1000)]
        if api.remove is not None:
            for handle in handles:
                api.remove(handle)
        else:
            for handle in handles:
                handle.cancel()
        del handles
    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter_ns()
    for _ in itertools.repeat(None, n):
        schedule(MEMORY_DELAY + rand() * MEMORY_DELAY, _noop)
    elapsed = time.perf_counter_ns() - t0
    after = _rss_bytes()
    growth = after - before
    if growth <= 0:
        raise RuntimeError(f"memory: RSS did not grow ({before} -> {after} bytes)")
    extra["rss_before"] = before
    extra["rss_after"] = after
    extra["schedule_ns_per_timer"] = elapsed / n
    return [harness.record("memory", [growth / n], "byte", n, elapsed / 1e9)]


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
}


def _peer_version(name):
    if name == FLOOR:
        return None
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


def _env_flag(name):
    # The same reading as ioloop's: unset, "", 0, false, no mean off.
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _ioloop_identity():
    """Which ioloop ``import ioloop`` gives here, and which engine: the
    package's file, ``implementation`` ("cython": the compiled engine;
    "python": the pure-Python one), the engine module's file, whether the
    pure-Python engine was asked for (``IOLOOP_NO_EXTENSIONS=1``) and, when
    it runs without being asked for, why the compiled one did not load."""
    import ioloop
    implementation = getattr(ioloop, "implementation", None)
    engine = sys.modules.get("ioloop._core" if implementation == "cython"
                             else "ioloop._engine_py")
    ident = {
        "implementation": implementation,
        "version": getattr(ioloop, "__version__", None),
        "file": os.path.realpath(ioloop.__file__),
        "engine_file": (os.path.realpath(engine.__file__)
                        if getattr(engine, "__file__", None) else None),
        "python_engine_asked": _env_flag("IOLOOP_NO_EXTENSIONS"),
        "extension_error": None,
    }
    if implementation != "cython" and not ident["python_engine_asked"]:
        try:
            import ioloop._core  # noqa: F401
        except ImportError as exc:
            ident["extension_error"] = f"{type(exc).__name__}: {exc}"
    return ident


def _engine_text(ident, short=False):
    """The engine in a few words, for the output (``short``: without the
    compiled engine's file name)."""
    if ident.get("implementation") == "cython":
        if short or not ident.get("engine_file"):
            return "compiled engine"
        return f"compiled engine ({os.path.basename(ident['engine_file'])})"
    if ident.get("python_engine_asked"):
        return "pure-Python engine, IOLOOP_NO_EXTENSIONS=1"
    return "pure-Python engine: the compiled one did not load"


def _python_engine_refusal(ident, what="the ioloop rows"):
    """Why measuring ``ident``'s ioloop would mislead (its compiled engine
    did not load and the pure-Python one was not asked for), or None."""
    if ident.get("implementation") == "cython" or ident.get("python_engine_asked"):
        return None
    reason = ident.get("extension_error") or f"implementation={ident.get('implementation')!r}"
    return (f"the ioloop imported from {os.path.dirname(ident['file'])} has no working "
            f"compiled engine ({reason}), so {what} would measure its pure-Python engine, "
            "many times slower. Reinstall it where a C compiler and Cython are available "
            "(with IOLOOP_REQUIRE_EXTENSIONS=1 a failed build is an error instead of a "
            "silent fall-back), or measure the pure-Python engine on purpose with "
            "--allow-python-engine (or IOLOOP_NO_EXTENSIONS=1).")


def _worker(loop_name, workload, n, args):
    if n < 2:
        raise SystemExit("N must be at least 2")
    opts = {"depth": args.echo_depth, "gen": args.echo_gen, "c_dir": args.c_dir}
    if args.idle_fds is not None:
        opts["idle_fds"] = args.idle_fds
    if loop_name not in APPLICABLE.get(workload, PEERS):
        raise SystemExit(f"{workload} does not run on {loop_name}")
    metadata = {"loop": loop_name, "workload": workload}
    harness = _Harness(args.harness, args.warmups, args.values, metadata)
    api = (None if loop_name == FLOOR
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
                      if api is not None else None),
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
    ident = _ioloop_identity()
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
        "ioloop_engine": _engine_text(ident),
        "ioloop_engine_file": ident["engine_file"],
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
    if name == FLOOR:
        return {"status": "ok", "version": None,
                "detail": "no loop library: the same callbacks / syscalls in a bare for loop"}
    if name in ("ioloop", "ioloop-asyncio"):
        ident = _ioloop_identity()
        detail = _engine_text(ident, short=True)
        detail += ("; asyncio API of the same loop" if name == "ioloop-asyncio"
                   else "; classic API")
        return {"status": "ok", "version": ident["version"], "detail": detail,
                "implementation": ident["implementation"], "file": ident["file"],
                "engine_file": ident["engine_file"]}
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
                "detail": "pure-Python engine, IOLOOP_NO_EXTENSIONS=1; classic API",
                "implementation": "python", "file": ident.get("file"),
                "engine_file": ident.get("engine_file")}
    if name == "asyncio":
        import asyncio
        loop = asyncio.new_event_loop()
        try:
            detail = f"stdlib, {type(loop).__name__}, asyncio API"
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
    detail = ("tornado.ioloop.IOLoop on asyncio, classic API" if name == "tornado"
              else "asyncio API")
    return {"status": "ok", "version": version, "detail": detail}


def _wrap(text, width, indent="", first=None):
    """``text`` wrapped to ``width`` columns (None: one line), its first
    line led by ``first`` (default: ``indent``), the others by ``indent``.
    Words are never broken: a path longer than a line stays whole."""
    first = indent if first is None else first
    if width is None:
        return first + text
    return "\n".join(textwrap.wrap(text, width, initial_indent=first, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False)
                     ) or first.rstrip()


def _note_text(note):
    """A note cell: text, or a (short, detail) pair shown as "short (detail)"."""
    if isinstance(note, tuple):
        short, detail = note
        return f"{short} ({detail})" if short else detail
    return note


def _format_table(rows, header, width=None):
    """An aligned text table, and its footnotes. Numeric columns are
    right-aligned (marked by a leading '>' in their header name). The last
    column holds notes: text, or a (short, detail) pair. A row with fewer
    cells than the header is a note row: its last cell is written after the
    others and does not widen its column (for "skipped (not installed)").
    With a ``width``, a note that would make its line longer is replaced by
    a reference ("[k]", after its short part) to footnote k below the table."""
    align = ["r" if h.startswith(">") else "l" for h in header]
    header = [h.lstrip(">") for h in header]
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells):
        return "  ".join(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i])
                         for i, cell in enumerate(cells))

    footnotes = []
    body = []
    for row in rows:
        lead = fmt(row[:-1]) + "  "
        note = row[-1]
        text = _note_text(note)
        if width is not None and text and len(lead) + len(text) > width:
            footnotes.append(note[1] if isinstance(note, tuple) else note)
            ref = f"[{len(footnotes)}]"
            short = note[0] if isinstance(note, tuple) else ""
            text = f"{short} {ref}" if short else ref
        if len(row) == len(header):
            widths[-1] = max(widths[-1], len(text))
        body.append((lead + text).rstrip())
    lines = [fmt(header).rstrip(), "  ".join("-" * w for w in widths).rstrip()] + body
    for k, note in enumerate(footnotes, 1):
        lines.append(_wrap(note, width, " " * (len(str(k)) + 3), f"[{k}] "))
    return "\n".join(lines)


def _fmt_ns(x):
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}"


def _bench_names(workload, idle_fds):
    if workload == "idle":
        return ["idle-0", f"idle-{2 * ((idle_fds + 1) // 2)}"]
    return [workload]


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


def _extra_values(samples, key):
    return [v for s in samples for v in s["extra"].get(key, [])]


def _summarise(collector, peers, workloads, idle_fds, first_echo=None):
    summary = {}
    for loop in peers:
        for workload in workloads:
            for name in _bench_names(workload, idle_fds):
                s = collector.stats(loop, name)
                if s is None:
                    continue
                if s["unit"] == "second":
                    for key in ("median", "min", "max", "mean", "stdev"):
                        s[f"{key}_ns_per_op"] = s[key] * 1e9
                if name in ECHO_WORKLOADS:
                    samples = collector.samples[loop][name]
                    s["req_per_s"] = 1.0 / s["median"]
                    s["duration_ms"] = s["n"]
                    for key, out in (("server_cpu_ns_per_req", "server_cpu_ns_per_req"),
                                     ("server_cpu_share", "server_cpu_share"),
                                     ("client_cpu_share", "load_generator_cpu_share")):
                        values = _extra_values(samples, key)
                        s[out] = statistics.median(values) if values else None
                    s["generator"] = samples[0]["extra"].get("generator")
                    s["depth"] = samples[0]["extra"].get("depth")
                if s["unit"] == "byte":
                    s["bytes_per_timer"] = s["median"]
                summary.setdefault(loop, {})[name] = s
    # One C floor server for every echo workload: measured under the first.
    floor = summary.get(FLOOR, {})
    if first_echo in floor:
        for workload in workloads:
            if workload in ECHO_WORKLOADS and workload != first_echo:
                floor[workload] = dict(floor[first_echo], shared_from=first_echo)
    for loop, per in summary.items():
        for name, s in per.items():
            base = summary.get(_baseline(name), {}).get(name)
            s["baseline"] = _baseline(name)
            s["ratio_vs_ioloop"] = s["median"] / base["median"] if base else None
            fl = floor.get(name)
            s["ratio_vs_floor"] = s["median"] / fl["median"] if fl else None
        if "idle-0" in per:
            for name, s in per.items():
                if name.startswith("idle-") and name != "idle-0":
                    s["ratio_vs_idle0"] = s["median"] / per["idle-0"]["median"]
    return summary


def _cells(s):
    """N, median, min - max, as text in the benchmark's own unit."""
    if s["unit"] == "byte":
        return (f"{s['n']:,}", f"{s['median']:,.1f} B", f"{s['min']:,.1f} - {s['max']:,.1f}")
    if "req_per_s" in s:
        return (f"{s['n'] / 1000:g} s", f"{1 / s['median']:,.0f} req/s",
                f"{1 / s['max']:,.0f} - {1 / s['min']:,.0f}")
    return (f"{s['n']:,}", f"{_fmt_ns(s['median_ns_per_op'])} ns",
            f"{_fmt_ns(s['min_ns_per_op'])} - {_fmt_ns(s['max_ns_per_op'])}")


def _note(name, s, wide=False):
    """The note of a table row (``wide``: with the echo workloads' CPU
    figures, which otherwise get their own table)."""
    if name.startswith("idle-") and s.get("ratio_vs_idle0") is not None:
        return f"{s['ratio_vs_idle0']:.2f}x vs no fds"
    if name in ECHO_WORKLOADS and s.get("shared_from"):
        return f"the {s['shared_from']} floor"
    if wide and name in ECHO_WORKLOADS and s.get("server_cpu_ns_per_req") is not None:
        return "server CPU " + ", ".join(_echo_cpu_cells(s))
    return ""


def _echo_cpu_cells(s):
    """An echo row's server CPU per request, server busy, generator busy."""
    def share(x):
        return f"{x * 100:.0f}% busy" if x is not None else "-"

    return (f"{s['server_cpu_ns_per_req'] / 1000:.1f} us/req", share(s.get("server_cpu_share")),
            "generator " + share(s.get("load_generator_cpu_share")))


def _label(workload, name):
    if workload == "idle":
        count = int(name.split("-", 1)[1])
        return f"idle ({f'{count:,}' if count else 'no'} fds)"
    return workload


def _cell_key(loop, workload, skipped, first_echo):
    """The (loop, workload) cell that measured a table row: the floor of
    every echo workload is the C server measured under the first one."""
    if (loop == FLOOR and workload in ECHO_WORKLOADS and (loop, workload) not in skipped
            and first_echo is not None):
        return (loop, first_echo)
    return (loop, workload)


def _results_table(summary, peers, order, workloads, idle_fds, errors, skipped,
                   first_echo=None, width=None):
    failed = {(e["loop"], e["workload"]) for e in errors}
    rows = []
    for workload in workloads:
        for name in _bench_names(workload, idle_fds):
            first = True
            for loop in order:
                if not _applies(loop, workload):
                    continue
                label = _label(workload, name) if first else ""
                first = False
                peer = peers[loop]
                if peer["status"] == "skipped":
                    rows.append([label, loop, ("skipped", peer["reason"])])
                    continue
                if peer["status"] == "error":
                    rows.append([label, loop, "ERROR (see errors below)"])
                    continue
                cell = _cell_key(loop, workload, skipped, first_echo)
                s = summary.get(loop, {}).get(name)
                if s is None:
                    if cell in skipped:
                        rows.append([label, loop, ("skipped", skipped[cell])])
                    else:
                        rows.append([label, loop, "ERROR (see errors below)"
                                     if cell in failed else "no data"])
                    continue
                med = s["median"]
                spread = (s["max"] - s["min"]) / med * 100 if med else 0.0
                ratio = s["ratio_vs_ioloop"]
                note = _note(name, s, wide=width is None)
                if cell in failed:
                    note = (note + "; " if note else "") + "some runs failed"
                n_text, median_text, range_text = _cells(s)
                rows.append([
                    label, loop, n_text, median_text, range_text, f"{spread:.1f}%",
                    f"{ratio:.2f}x" if ratio is not None else "-",
                    (f"{s['processes']}x{s['values'] // s['processes']}"
                     if s["values"] % s["processes"] == 0 else f"{s['values']}"), note,
                ])
    header = ["workload", "loop", ">N", ">median", ">min - max", ">spread", ">vs ioloop",
              ">runs", "note"]
    return _format_table(rows, header, width)


def _echo_table(summary, order, workloads):
    """The echo rows' CPU figures (medians): the server's CPU time per
    request, and how busy the server and the load generator were."""
    rows = []
    for workload in workloads:
        if workload not in ECHO_WORKLOADS:
            continue
        first = True
        for loop in order:
            s = summary.get(loop, {}).get(workload)
            if s is None or s.get("shared_from") or s.get("server_cpu_ns_per_req") is None:
                continue
            cpu, server, generator = _echo_cpu_cells(s)
            rows.append([workload if first else "", loop, cpu, server.replace(" busy", ""),
                         generator.replace("generator ", "").replace(" busy", ""), ""])
            first = False
    if not rows:
        return None
    return _format_table(rows, ["echo", "loop", ">server CPU", ">server busy",
                                ">generator busy", ""])


def _losses(summary, order, workloads, idle_fds, margin=0.05):
    """Where a loop (not the floor) beat ioloop (the workload's baseline)
    by more than ``margin``: one sentence each."""
    lines = []
    for workload in workloads:
        baseline = _baseline(workload)
        for name in _bench_names(workload, idle_fds):
            base = summary.get(baseline, {}).get(name)
            if not base:
                continue
            for loop in order:
                if loop in (FLOOR, baseline):
                    continue
                s = summary.get(loop, {}).get(name)
                if s and s["ratio_vs_ioloop"] is not None and s["ratio_vs_ioloop"] < 1 - margin:
                    lines.append(f"{_label(workload, name)}: {loop} needs "
                                 f"{s['ratio_vs_ioloop']:.2f}x {baseline}'s "
                                 + ("memory" if s["unit"] == "byte" else "time")
                                 + f" ({baseline} costs {1 / s['ratio_vs_ioloop']:.2f}x {loop})")
    return lines


_DESCRIPTIONS = {
    "callbacks": "N no-op callbacks scheduled, then run; ns per callback",
    "chain": "each callback schedules the next, N times; ns per callback",
    "timers": "N timers, random delay in [0, 1 ms], every other one cancelled; ns per timer set",
    "threadsafe": "a second thread submits N callbacks; ns per callback until all ran",
    "pingpong": f"{PINGPONG_PAIRS} socketpairs bouncing one byte via read handlers; "
                "ns per round trip",
    "idle": "one socketpair bouncing (N round trips) with no / with {idle} idle fds "
            "registered; ns per round trip",
    "echo": "raw-socket TCP echo server on read handlers (add_handler / add_reader); req/s",
    "proto_echo": "asyncio.Protocol echo server via loop.create_server; req/s",
    "stream_echo": "asyncio streams echo via asyncio.start_server (read, write, "
                   "await drain); req/s",
    "tornado_echo": "Tornado TCPServer / IOStream echo (read_bytes(64, partial=True), "
                    "await write) on the asyncio loop; req/s",
    "memory": "bytes per pending timer: RSS growth while N timers are scheduled, / N",
    "call_later": "N call_later(0, f), then run; ns per callback",
}


def _header_text(machine, peers, order, workloads, ns, repeats, harness, idle_fds, full_ns,
                 mode, echo=None, unavailable=None, width=None, custom_n=False):
    unavailable = unavailable or {}
    lines = ["ioloop benchmark: " + time.strftime("%Y-%m-%d %H:%M:%S %z")]
    indent = " " * 10

    def add(label, text):
        lines.append(_wrap(text, width, indent, f"{label:<8}: "))

    add("machine", f"{machine['machine']}, {machine['cpu']}, nproc={machine['nproc']}"
        + (f", governor={machine['cpu_governor']}" if machine["cpu_governor"] else "")
        + f", {machine['kernel']}")
    if machine.get("loadavg") is not None:
        add("load", f"{' '.join(str(x) for x in machine['loadavg'])} (at start; other work on "
            "the machine skews every figure)")
    add("python", f"{machine['python']} ({machine['python_executable']})")
    add("ioloop", f"{machine['ioloop_version']}, {machine['ioloop_engine']}, from "
        f"{os.path.dirname(machine['ioloop_file'])}")
    if machine["ioloop_implementation"] != "cython" and any(
            name in ("ioloop", "ioloop-asyncio") for name in order):
        add("WARNING", f"the ioloop rows measure the {machine['ioloop_engine']}; not the "
            "compiled one")
    add("harness", harness["text"])
    if machine["noisy_env"]:
        add("WARNING", f"{', '.join(machine['noisy_env'])} set: results are not representative")
    lines.append("peers   :")
    nwidth = max(len(name) for name in order)
    for name in order:
        peer = peers[name]
        if peer["status"] == "ok":
            text = f"{peer['version'] or '-'}"
            if peer.get("detail"):
                text += f"  ({peer['detail']})"
        elif peer["status"] == "skipped":
            text = f"skipped ({peer['reason']})"
        else:
            text = f"ERROR: {peer['reason']}"
        lines.append(_wrap(text, width, " " * (nwidth + 6), f"  {name.ljust(nwidth)}  "))
    lines.append("workloads:")
    wwidth = max(len(w) for w in workloads)
    reduced = []
    for w in workloads:
        desc = _DESCRIPTIONS[w].format(idle=f"{2 * ((idle_fds + 1) // 2):,}")
        if w in ECHO_WORKLOADS:
            size = f"N={ns[w] / 1000:g} s"
            if w in APPLICABLE:
                desc += f" (on {', '.join(x for x in APPLICABLE[w] if x in order)})"
        else:
            size = f"N={ns[w]:,}"
        if w in unavailable:
            text = f"skipped ({unavailable[w]}): {desc}"
        else:
            text = f"{size}, {repeats[w]} run(s): {desc}"
            if ns[w] < full_ns[w] and w not in ECHO_WORKLOADS:
                reduced.append(f"{w} {ns[w]:,} (full: {full_ns[w]:,})")
        lines.append(_wrap(text, width, " " * (wwidth + 4), f"  {w.ljust(wwidth)}  "))
    if echo is not None:
        add("echo", echo["text"])
        lines.append(_wrap(f"{echo['floor']}, measured once for all the echo workloads", width,
                           indent))
    if mode == "quick":
        add("NOTE", "--quick: small N and few runs, a smoke test, not a measurement")
    elif reduced:
        add("NOTE", "N reduced from the full sizes"
            + ("" if custom_n else " to keep this run to about 6 minutes on 2 cores")
            + ": " + ", ".join(reduced) + "; --full runs the full sizes")
    lines.append(_wrap("each run a fresh subprocess; loop order shuffled per round and "
                       "workload", width, indent))
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


def _missing_requirement(workload):
    """Why ``workload`` cannot run here (a library it needs does not
    import), or None."""
    module = REQUIRES.get(workload)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError:
        return f"needs {module}, not installed"
    except Exception as exc:  # a broken install: skipped too, with its reason
        return f"needs {module}, which fails to import: {type(exc).__name__}: {exc}"
    return None


def _applies(loop, workload):
    return loop in APPLICABLE.get(workload, PEERS)


def _baseline(workload):
    """The ratio column's reference: ioloop, or its asyncio face where the
    workload is written against asyncio's APIs."""
    return "ioloop-asyncio" if workload in ASYNCIO_API_WORKLOADS else BASELINE


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

    summary = _summarise(collector, order, [w for w in workloads if w not in unavailable],
                         idle_fds, first_echo)
    print()
    print(_results_table(summary, peers, order, workloads, idle_fds, errors, skipped,
                         first_echo, width))
    echo_table = _echo_table(summary, order, workloads) if width is not None else None
    if echo_table:
        print("\necho servers: CPU time per request, and how busy each side was "
              "(medians; busy: CPU time / wall time)")
        print(echo_table)
    print()
    for paragraph in _LEGEND:
        print(_wrap(paragraph, width, "  ", ""))
    if machine["ioloop_implementation"] != "cython" and any(
            name in ("ioloop", "ioloop-asyncio") for name in order):
        print()
        print(_wrap(f"WARNING: the ioloop and ioloop-asyncio rows ran the "
                    f"{machine['ioloop_engine']}; not the compiled one.", width, "  ",
                    ""))
    losses = _losses(summary, order, workloads, idle_fds)
    if losses:
        print("\nwhere a peer beats ioloop by more than 5% (median):")
        for line in losses:
            print(_wrap(line, width, "    ", "  "))
    if skipped:
        print("\nskipped:")
        grouped = {}
        for (loop, workload), reason in skipped.items():
            grouped.setdefault((workload, reason), []).append(loop)
        for (workload, reason), loops_skipped in grouped.items():
            print(_wrap(f"{workload} on {', '.join(loops_skipped)}: {reason}", width, "    ",
                        "  "))
    if errors:
        print("\nerrors:")
        for e in errors:
            where = e["loop"]
            if e["workload"]:
                where += f" {e['workload']} round {e['round'] + 1}"
            print(f"  {where}: {e['message']}")
    duration = time.time() - started
    print(f"\ntotal time {duration:.0f}s" + ("  (interrupted)" if interrupted else ""))

    suites = collector.suites()
    if args.pyperf_dir and suites:
        os.makedirs(args.pyperf_dir, exist_ok=True)
        for loop, suite in suites.items():
            suite.dump(os.path.join(args.pyperf_dir, f"{loop}.json"), replace=True)
        print(_wrap(f"pyperf files written to {args.pyperf_dir} (python -m pyperf compare_to "
                    f"{os.path.join(args.pyperf_dir, 'ioloop.json')} "
                    f"{os.path.join(args.pyperf_dir, 'asyncio.json')} --table)", width, "  "))
    elif args.pyperf_dir:
        print("--pyperf-dir: nothing written (the built-in harness ran)")
    if args.json:
        doc = {
            "schema": 2,
            "meta": dict(machine, argv=sys.argv[1:] if argv is None else list(argv),
                         started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                         duration_s=duration, repeat=repeat, repeats=repeats, n=ns,
                         full_n=FULL_N, loops=order, workloads=workloads, seed=args.seed,
                         interrupted=interrupted, baseline=BASELINE, floor=FLOOR,
                         harness=harness["kind"], pyperf_version=harness["pyperf_version"],
                         values_per_process=args.values, warmups_per_process=args.warmups,
                         idle_fds=2 * ((idle_fds + 1) // 2), pingpong_pairs=PINGPONG_PAIRS,
                         echo_conns=ECHO_CONNS, echo_size=ECHO_SIZE,
                         echo=({k: v for k, v in echo.items() if k != "text"}
                               if echo else None),
                         applicable={w: list(APPLICABLE.get(w, PEERS)) for w in workloads},
                         memory_method="RSS delta (/proc/self/statm) / N"),
            "peers": peers,
            "samples": collector.samples,
            "summary": summary,
            "pyperf": {loop: _suite_json(suite) for loop, suite in suites.items()},
            "order": schedule,
            "skipped": [{"loop": loop, "workload": workload, "reason": reason}
                        for (loop, workload), reason in skipped.items()],
            "errors": errors,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(_wrap(f"raw samples and summary written to {args.json}", width, "  "))
    if interrupted:
        return 130
    return 1 if errors else 0


def _suite_json(suite):
    buf = io.StringIO()
    suite.dump(buf)
    return json.loads(buf.getvalue())


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
            if not values or not all(isinstance(v, (int, float)) and v > 0 for v in values):
                raise ValueError(f"bad values for {b.get('name')}: {values!r}")
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


if __name__ == "__main__":
    sys.exit(main())

"""The loop-level workloads: ``callbacks``, ``call_later``, ``chain``,
``timers``, ``threadsafe``, ``pingpong``, ``idle`` and ``memory``. Each
takes the loop's ``_Api`` (None: the floor, the same work with no loop), N,
the harness, the options and a dict for extra figures; it checks its own
work and returns its benchmark records."""


import gc
import heapq
import itertools
import os
import random
import socket
import threading
import time
from collections import deque

from .common import _Skip, _noop, _percentiles, _sched_ns, _wait_share
from .config import (
    IDLE_FDS,
    LATENESS_MAX_DELAY,
    LATENESS_MIN_DELAY,
    LATENESS_PAIRS,
    MAX_TIMER_DELAY,
    MEMORY_DELAY,
    PINGPONG_PAIRS,
    TIMER_SEED,
)


PING = b"x"


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


def _wl_lateness(api, n, harness, opts, extra):
    """How late timers fire on a busy loop. ``LATENESS_PAIRS`` socketpairs
    keep one byte bouncing each through read handlers (the load) while n
    timers fire one after the other: each is set with ``call_later`` when
    the previous one fires, at a delay drawn (fixed seed) from
    [LATENESS_MIN_DELAY, LATENESS_MAX_DELAY]. A timer's lateness is the
    clock when its callback starts minus the clock when it was set plus its
    delay (negative when it fires early). Each run's percentiles go into
    ``extra["latency"]``; the value recorded is its p99."""
    rng = random.Random(TIMER_SEED)
    delays = [LATENESS_MIN_DELAY + rng.random() * (LATENESS_MAX_DELAY - LATENESS_MIN_DELAY)
              for _ in range(n)]
    npairs = opts.get("lateness_pairs", LATENESS_PAIRS)
    clock = time.perf_counter_ns
    runs, bounces, waits = [], [], []

    def run_once():
        late = [0] * n
        index = 0
        due = 0
        count = 0
        later, stop = api.later, api.stop

        def on_timer():
            nonlocal index, due
            late[index] = clock() - due
            index += 1
            if index == n:
                stop()
                return
            delay = delays[index]
            due = clock() + round(delay * 1e9)
            later(delay, on_timer)

        def handlers(a, b):
            a_recv, a_send, b_recv, b_send = a.recv, a.send, b.recv, b.send

            def on_b(_fd=None, _events=None):
                b_send(b_recv(1))

            def on_a(_fd=None, _events=None):
                nonlocal count
                a_recv(1)
                count += 1
                a_send(PING)

            return on_a, on_b

        pairs = _socketpairs(npairs)
        fds = []
        try:
            for a, b in pairs:
                on_a, on_b = handlers(a, b)
                api.add_reader(b.fileno(), on_b)
                fds.append(b.fileno())
                api.add_reader(a.fileno(), on_a)
                fds.append(a.fileno())
            for a, _b in pairs:
                a.send(PING)
            due = clock() + round(delays[0] * 1e9)
            later(delays[0], on_timer)
            before, t0 = _sched_ns(), clock()
            api.run()
            wait = _wait_share(before, _sched_ns(), clock() - t0)
        finally:
            for fd in fds:
                api.remove_reader(fd)
            _close_pairs(pairs)
        if index != n:
            raise RuntimeError(f"lateness: {index} of {n} timers fired")
        if not count:
            raise RuntimeError("lateness: the socketpairs never bounced")
        bounces.append(count)
        stats = _percentiles(late)
        stats["early"] = sum(1 for x in late if x < 0)
        waits.append(wait)
        return stats

    warmups = [run_once()["p99"] / 1e9 for _ in range(harness.warmups)]
    del bounces[:], waits[:]
    t0 = time.perf_counter()
    for _ in range(harness.values):
        runs.append(run_once())
    duration = time.perf_counter() - t0
    # The loop's thread waited for a CPU this share of each run (other
    # processes had it): a lateness that no loop could avoid.
    extra.update(pairs=npairs, latency=runs, bounces=bounces, server_wait_share=waits)
    return [harness.record("lateness", [r["p99"] / 1e9 for r in runs], "second", n, duration,
                           warmups=warmups, timing=False)]


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

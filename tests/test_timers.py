"""Timers: call_later / call_at / add_timeout / remove_timeout.

docs/behaviour.md "Timers" and "One iteration": the monotonic clock,
handles and arguments, huge/negative/NaN deadlines, FIFO on ties, never
early, cancellation, and bounded memory under mass cancellation.
"""

import datetime
import decimal
import fractions
import gc
import math
import random
import sys
import threading
import time
import weakref

import pytest

import ioloop
from ioloop import _engines
from ioloop import IOLoop

from support import run_for, run_until

pytestmark = pytest.mark.timeout(60)


# -- clock -------------------------------------------------------------------


def test_time_is_time_monotonic_scale(loop):
    a = time.monotonic()
    t = loop.time()
    b = time.monotonic()
    assert isinstance(t, float)
    assert a <= t <= b


def test_time_never_goes_backwards(loop):
    last = loop.time()
    for _ in range(10000):
        now = loop.time()
        assert now >= last
        last = now


# -- handles and arguments ------------------------------------------------------


def test_every_scheduler_returns_a_timer_handle(loop, engine):
    now = loop.time()
    handles = [
        loop.call_later(0, lambda: None),
        loop.call_later(10, lambda: None),
        loop.call_at(now + 5, lambda: None),
        loop.add_timeout(now + 5, lambda: None),
        loop.add_timeout(datetime.timedelta(seconds=5), lambda: None),
    ]
    for h in handles:
        assert h is not None
        assert isinstance(h, _engines.get(engine).TimerHandle)
        assert h.cancelled() is False
        assert isinstance(h.when(), float)
    assert handles[2].when() == now + 5
    assert handles[3].when() == now + 5
    assert now + 10 <= handles[1].when() <= loop.time() + 10
    assert now + 5 <= handles[4].when() <= loop.time() + 5
    for h in handles:
        loop.remove_timeout(h)
        assert h.cancelled() is True


def test_args_and_kwargs_are_passed_through(loop):
    got = []

    def cb(*args, **kwargs):
        got.append((args, kwargs))

    now = loop.time()
    loop.add_timeout(now, cb, 1, key="a")
    loop.add_timeout(datetime.timedelta(seconds=0), cb, 2, key="b")
    loop.call_at(now, cb, 3, key="c")
    loop.call_later(0, cb, 4, key="d")
    loop.call_later(0.001, loop.stop)
    loop.start()
    assert sorted(got) == [((1,), {"key": "a"}), ((2,), {"key": "b"}),
                           ((3,), {"key": "c"}), ((4,), {"key": "d"})]


def test_add_timeout_timedelta_is_relative(loop):
    fired = []
    t0 = time.monotonic()
    h = loop.add_timeout(datetime.timedelta(milliseconds=30),
                         lambda: fired.append(time.monotonic()))
    assert t0 + 0.030 <= h.when() <= time.monotonic() + 0.030
    run_until(loop, lambda: fired)
    assert fired[0] - t0 >= 0.030
    assert fired[0] >= h.when()


def test_add_timeout_accepts_int_and_other_reals(loop):
    fired = []
    now = loop.time()
    loop.add_timeout(int(now), fired.append, "int")
    loop.add_timeout(fractions.Fraction(now) - 1, fired.append, "fraction")
    loop.call_later(0, fired.append, "zero-int-delay")
    loop.call_later(0.001, loop.stop)
    loop.start()
    assert sorted(fired) == ["fraction", "int", "zero-int-delay"]


def assert_every_scheduler_rejects(loop, when, exc):
    """add_timeout, call_at and call_later all raise ``exc`` for ``when``,
    and the failed calls schedule nothing."""
    for schedule in (loop.add_timeout, loop.call_at, loop.call_later):
        with pytest.raises(exc):
            schedule(when, lambda: None)
    assert loop._timer_count() == 0


@pytest.mark.parametrize("bad", ["1", b"1", None, object(), [1.0], (1.0,), {}, 1j,
                                 decimal.Decimal("1.5")])
def test_bad_deadline_type_is_type_error(loop, bad):
    assert_every_scheduler_rejects(loop, bad, TypeError)


def test_nan_deadline_is_value_error(loop):
    assert_every_scheduler_rejects(loop, float("nan"), ValueError)


def test_non_callable_callback_is_type_error(loop):
    for bad in (None, 1, "cb"):
        with pytest.raises(TypeError):
            loop.call_later(0, bad)
        with pytest.raises(TypeError):
            loop.call_at(loop.time(), bad)
        with pytest.raises(TypeError):
            loop.add_timeout(loop.time(), bad)
    assert loop._timer_count() == 0


# -- huge and negative deadlines ----------------------------------------------


HUGE = [math.inf, 1e18, 2 ** 63, 2 ** 64, sys.maxsize, float(sys.maxsize), 2 ** 55, 1e300,
        10 ** 400]


@pytest.mark.parametrize("huge", HUGE, ids=lambda v: repr(v)[:24])
def test_huge_delay_never_fires_and_cancels(loop, huge):
    fired = []
    h1 = loop.call_later(huge, fired.append, "later")
    h2 = loop.call_at(huge, fired.append, "at")
    h3 = loop.add_timeout(huge, fired.append, "timeout")
    try:
        expected = float(huge)
    except OverflowError:
        expected = math.inf
    assert h2.when() == expected
    run_for(loop, 0.03)
    assert fired == []
    for h in (h1, h2, h3):
        h.cancel()
        assert h.cancelled()
        loop.remove_timeout(h)
    run_for(loop, 0.005)
    assert fired == []


def test_huge_timer_alone_sleeps_instead_of_spinning(loop):
    """With only a far-away timer the loop must block in epoll_wait, not
    spin (an overflowed poll timeout becomes 0 or negative)."""
    fired = []
    for huge in HUGE:
        loop.call_later(huge, fired.append, huge)

    def stopper():
        time.sleep(0.3)
        loop.add_callback(loop.stop)

    t = threading.Thread(target=stopper)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    t.start()
    loop.start()
    t.join()
    elapsed = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    assert fired == []
    assert elapsed >= 0.29
    assert cpu < 0.15, f"loop burned {cpu:.3f}s CPU in {elapsed:.3f}s while idle"


def test_negative_delay_runs_next_iteration_earliest_first(loop):
    order = []
    loop.call_later(-1, order.append, "b")
    loop.call_later(-2, order.append, "a")
    loop.call_at(loop.time() - 3, order.append, "first")
    loop.call_later(0, loop.stop)
    t0 = time.monotonic()
    loop.start()
    assert time.monotonic() - t0 < 0.5
    assert order == ["first", "a", "b"]


def test_negative_timedelta_and_huge_negative_fire_promptly(loop):
    fired = []
    loop.add_timeout(datetime.timedelta(seconds=-5), fired.append, "td")
    loop.call_at(-(10 ** 400), fired.append, "-10**400")
    loop.call_later(-1e300, fired.append, "-1e300")
    loop.call_later(0.005, loop.stop)
    loop.start()
    assert sorted(fired) == ["-10**400", "-1e300", "td"]


def test_call_at_in_the_past_fires_promptly(loop):
    fired = []
    loop.call_at(loop.time() - 100, fired.append, 1)
    loop.call_at(0.0, fired.append, 2)
    loop.call_at(-math.inf, fired.append, 3)
    loop.call_later(3600, fired.append, "never")
    t0 = time.monotonic()
    run_until(loop, lambda: len(fired) == 3, timeout=2)
    assert time.monotonic() - t0 < 0.5
    assert sorted(fired, key=str) == [1, 2, 3]


# -- ordering -----------------------------------------------------------------


def test_equal_deadlines_fire_in_insertion_order(loop):
    order = []
    when = loop.time() + 0.02
    for i in range(500):
        # Mix the three scheduling calls: all share one FIFO sequence.
        if i % 3 == 0:
            loop.call_at(when, order.append, i)
        elif i % 3 == 1:
            loop.add_timeout(when, order.append, i)
        else:
            loop.call_at(when, order.append, i)
    loop.call_at(when, loop.stop)
    loop.start()
    assert order == list(range(500))


def test_timers_fire_in_deadline_order(loop):
    rng = random.Random(1234)
    now = loop.time()
    deadlines = [now + rng.uniform(0, 0.05) for _ in range(300)]
    fired = []
    for i, d in enumerate(deadlines):
        loop.call_at(d, fired.append, i)
    loop.call_at(now + 0.06, loop.stop)
    loop.start()
    assert fired == sorted(range(300), key=lambda i: (deadlines[i], i))


def test_timer_cancelled_by_earlier_timer_in_same_batch_does_not_run(loop):
    calls = []
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    now = loop.time()

    def t1():
        calls.append("t1")
        loop.remove_timeout(h2)
        h3.cancel()

    loop.add_timeout(now + 0.01, t1)
    h2 = loop.add_timeout(now + 0.02, calls.append, "t2")
    h3 = loop.add_timeout(now + 0.02, calls.append, "t3")
    loop.add_timeout(now + 0.02, calls.append, "t4")
    loop.add_timeout(now + 0.03, loop.stop)
    # All four are due by the time the loop first looks: one batch.
    time.sleep(0.035)
    loop.start()
    assert calls == ["t1", "t4"]
    assert errors == []


def test_due_timers_collected_before_any_runs(loop):
    """A 0-delay timer scheduled by a running timer waits for the next
    iteration: a callback added at the same moment runs before it (the next
    iteration runs callbacks before timers)."""
    order = []

    def t1():
        order.append("t1")
        loop.call_later(0, order.append, "timer-from-timer")
        loop.call_later(-1, order.append, "negative-from-timer")
        loop.add_callback(order.append, "callback-from-timer")

    loop.call_later(0, t1)
    loop.call_later(0.01, loop.stop)
    loop.start()
    assert order == ["t1", "callback-from-timer", "negative-from-timer", "timer-from-timer"]


def test_callbacks_run_before_timers_in_an_iteration(loop):
    """behaviour.md: ``add_callback(a); call_later(-1, b)`` runs a then b."""
    order = []
    loop.call_later(-1, order.append, "b")
    loop.add_callback(order.append, "a")
    loop.call_later(0.005, loop.stop)
    loop.start()
    assert order == ["a", "b"]


# -- never early --------------------------------------------------------------


@pytest.mark.parametrize("noise", ["alone", "busy"])
def test_timers_never_fire_early_against_time_monotonic(loop, noise):
    """Chains of short timers (0.1-3.1 ms). "alone": the loop sleeps exactly
    until each deadline (tests poll-timeout rounding). "busy": other timers
    and cross-thread callbacks wake the loop at arbitrary moments (tests the
    due check itself)."""
    early = []
    fired = [0]
    n_chains, per_chain = (1, 250) if noise == "alone" else (4, 120)
    choices = [0.0001, 0.0005, 0.0009, 0.001, 0.0011, 0.0015, 0.002, 0.0031]
    remaining = [n_chains]

    def start_chain(seed):
        rng = random.Random(seed)
        delays = [rng.choice(choices) for _ in range(per_chain)]
        state = {"i": 0}

        def schedule():
            i = state["i"]
            if i == len(delays):
                remaining[0] -= 1
                if remaining[0] == 0:
                    loop.stop()
                return
            d = delays[i]
            t0 = time.monotonic()
            if i % 2:
                state["h"] = loop.call_at(t0 + d, fire, t0, d)
            else:
                state["h"] = loop.call_later(d, fire, t0, d)

        def fire(t0, d):
            now = time.monotonic()
            h = state["h"]
            if now < h.when() or now - t0 < d - 1e-9:
                early.append((d, now - t0, h.when() - now))
            fired[0] += 1
            state["i"] += 1
            schedule()

        loop.add_callback(schedule)

    for seed in range(n_chains):
        start_chain(seed)
    stop_noise = threading.Event()
    threads = []
    if noise == "busy":
        def ticker():
            if not stop_noise.is_set():
                loop.call_later(0.00013, ticker)

        loop.add_callback(ticker)

        def poster():
            while not stop_noise.wait(0.0003):
                loop.add_callback(lambda: None)

        threads = [threading.Thread(target=poster)]
        for t in threads:
            t.start()
    guard = loop.call_later(30, loop.stop)
    try:
        loop.start()
    finally:
        stop_noise.set()
        for t in threads:
            t.join()
    loop.remove_timeout(guard)
    assert fired[0] == n_chains * per_chain
    assert early == [], f"{len(early)} timers fired early: {early[:5]}"


def test_poll_timeout_rounded_up_no_spin(loop):
    """A 1.5 ms timer must not make the loop spin in its last sub-ms
    (rounding the epoll timeout down gives epoll_wait(0) until due)."""
    count = [0]

    def tick():
        count[0] += 1
        if count[0] == 150:
            loop.stop()
        else:
            loop.call_later(0.0015, tick)

    loop.call_later(0.0015, tick)
    cpu0 = time.process_time()
    t0 = time.monotonic()
    loop.start()
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    assert count[0] == 150
    assert cpu < 0.15 * wall, f"{cpu:.3f}s CPU in {wall:.3f}s wall"


def test_timer_after_blocking_callback_uses_fresh_time(loop):
    """A timer scheduled after a callback blocked still waits its full delay
    (no stale cached "now")."""
    result = {}

    def blocker():
        time.sleep(0.05)
        t0 = time.monotonic()
        loop.call_later(0.02, done, t0)

    def done(t0):
        result["elapsed"] = time.monotonic() - t0
        loop.stop()

    loop.add_callback(blocker)
    loop.call_later(5, loop.stop)
    loop.start()
    assert result["elapsed"] >= 0.02


def test_short_timer_accuracy(loop):
    """A 50 ms call_at fires within 50-250 ms (not early, not lost in a long
    poll timeout)."""
    fired = []
    t0 = loop.time()
    loop.call_at(t0 + 0.05, lambda: (fired.append(loop.time()), loop.stop()))
    loop.call_later(5, loop.stop)
    loop.start()
    assert fired and 0.05 <= fired[0] - t0 < 0.25


# -- remove_timeout -----------------------------------------------------------


def test_remove_timeout_is_safe_after_fire_twice_and_foreign(make_loop, loop):
    fired = []
    h = loop.call_later(0, fired.append, 1)
    run_for(loop, 0.005)
    assert fired == [1]
    loop.remove_timeout(h)
    loop.remove_timeout(h)
    h.cancel()
    for foreign in (None, object(), 42, "x", loop):
        loop.remove_timeout(foreign)
    # A handle of another loop is ignored: that loop's timer still fires.
    other = make_loop()
    try:
        other_fired = []
        oh = other.call_later(0.001, other_fired.append, "other")
        loop.remove_timeout(oh)
        assert not oh.cancelled()
        other.call_later(0.01, other.stop)
        other.start()
        assert other_fired == ["other"]
    finally:
        other.close()
    # call_soon handles are not timers either.
    sh = loop.call_soon(fired.append, "soon")
    loop.remove_timeout(sh)
    run_for(loop, 0.002)
    assert fired == [1, "soon"]


def test_cancel_prevents_firing_and_when_is_stable(loop):
    fired = []
    h = loop.call_later(0.005, fired.append, "x")
    when = h.when()
    h.cancel()
    h.cancel()
    assert h.cancelled()
    assert h.when() == when
    h2 = loop.call_later(0, fired.append, "y")
    when2 = h2.when()
    run_for(loop, 0.02)
    assert fired == ["y"]
    assert h2.when() == when2
    assert h2.cancelled() is False


def test_timer_arguments_released_after_fire_and_after_cancel(loop):
    class Obj:
        pass

    a, b = Obj(), Obj()
    wa, wb = weakref.ref(a), weakref.ref(b)
    loop.call_later(0, lambda o: None, a)
    h = loop.call_later(3600, lambda o: None, b)
    del a, b
    h.cancel()
    gc.collect()
    # The cancelled handle is still held by us (and may still sit in the
    # heap), but must not keep its arguments alive.
    assert wb() is None
    run_for(loop, 0.005)
    gc.collect()
    assert wa() is None
    assert h.cancelled()


def test_timers_after_close(loop):
    h = loop.call_later(10, lambda: None)
    loop.close()
    with pytest.raises(RuntimeError):
        loop.call_later(0, lambda: None)
    with pytest.raises(RuntimeError):
        loop.call_at(0, lambda: None)
    with pytest.raises(RuntimeError):
        loop.add_timeout(0, lambda: None)
    loop.remove_timeout(h)  # silent
    h.cancel()  # silent
    loop.remove_timeout(object())


# -- mass cancellation -----------------------------------------------------------


def _bound(live):
    # behaviour.md: the heap is rebuilt once more than 64 cancelled timers
    # sit in it and they are more than half of it.
    return 2 * live + 65


def test_mass_cancellation_keeps_heap_bounded(loop):
    n = 100_000
    keep = 10
    handles = [loop.call_later(3600 + i * 1e-3, lambda: None) for i in range(n)]
    assert loop._timer_count() == n
    for h in handles[keep:]:
        h.cancel()
    assert loop._timer_count() <= _bound(keep)
    assert loop._timer_count() >= keep
    # remove_timeout path too
    more = [loop.call_later(3600, lambda: None) for _ in range(n // 4)]
    for h in more:
        loop.remove_timeout(h)
    assert keep <= loop._timer_count() <= _bound(keep)


def test_add_cancel_churn_keeps_heap_bounded(loop):
    worst = 0
    for i in range(50_000):
        h = loop.add_timeout(loop.time() + 3600, lambda: None)
        loop.remove_timeout(h)
        worst = max(worst, loop._timer_count())
    assert worst <= _bound(0) + 1, worst
    assert loop._timer_count() <= _bound(0)


def test_heap_bound_holds_after_every_cancel(loop):
    rng = random.Random(7)
    handles = [loop.call_later(rng.uniform(100, 200), lambda: None) for _ in range(5000)]
    rng.shuffle(handles)
    live = len(handles)
    for h in handles[:4900]:
        h.cancel()
        live -= 1
        count = loop._timer_count()
        assert live <= count <= _bound(live), (live, count)


def test_compaction_preserves_order_of_survivors(loop):
    """Cancel most of a large heap (forcing rebuilds) and check the
    survivors still fire, in (deadline, insertion) order, and the cancelled
    ones never do."""
    rng = random.Random(99)
    now = loop.time()
    fired = []
    entries = []
    for i in range(3000):
        d = now + 0.02 + rng.choice([0.0, 0.001, 0.002, rng.uniform(0, 0.04)])
        entries.append((d, i, loop.call_at(d, fired.append, i)))
    survivors = set()
    for d, i, h in entries:
        if rng.random() < 0.9:
            if i % 2:
                loop.remove_timeout(h)
            else:
                h.cancel()
        else:
            survivors.add(i)
    assert loop._timer_count() <= _bound(len(survivors))
    loop.call_at(now + 0.08, loop.stop)
    loop.start()
    expected = [i for d, i, h in sorted(entries, key=lambda e: (e[0], e[1])) if i in survivors]
    assert fired == expected


def test_cancelled_head_does_not_cut_sleep_short_or_spin(loop):
    """Many cancelled near timers ahead of one live far timer: the loop must
    neither fire early nor busy-loop."""
    fired = []
    now = loop.time()
    near = [loop.call_at(now + 0.001 * (i % 50), fired.append, "dead") for i in range(2000)]
    loop.call_at(now + 0.25, lambda: (fired.append(("live", time.monotonic())), loop.stop()))
    for h in near:
        h.cancel()
    cpu0 = time.process_time()
    loop.start()
    cpu = time.process_time() - cpu0
    assert [f[0] for f in fired] == ["live"]
    assert fired[0][1] >= now + 0.25
    assert cpu < 0.15, f"{cpu:.3f}s CPU while waiting for one timer"


def test_many_timers_all_fire_once(loop):
    n = 20000
    counts = [0] * n
    now = loop.time()

    def cb(i):
        counts[i] += 1

    for i in range(n):
        loop.call_at(now + (i % 100) * 1e-4, cb, i)
    loop.call_at(now + 0.05, loop.stop)
    loop.start()
    assert counts == [1] * n
    assert loop._timer_count() == 0


# -- finalizers run by the loop's own bookkeeping ------------------------------------------


def test_finalizer_run_while_dropping_cancelled_timers_can_post(loop):
    """A finalizer can run while the loop drops the cancelled timers at the
    head of its heap before it sleeps (the last reference to a timer's
    context goes with the timer). A callback it posts runs at once: the
    loop does not go to sleep with it queued."""
    import contextvars

    var = contextvars.ContextVar("v")
    ran = []

    class PostOnDel:
        def __del__(self):
            loop.add_callback(ran.append, "posted")
            loop.add_callback(loop.stop)

    ctx = contextvars.Context()
    ctx.run(var.set, PostOnDel())
    timer = loop.call_later(1, lambda: None, context=ctx)
    del ctx
    timer.cancel()
    del timer
    timed_out = []
    safety = loop.call_later(10, lambda: (timed_out.append(True), loop.stop()))
    loop.start()
    loop.remove_timeout(safety)
    assert ran == ["posted"]
    assert timed_out == []


def test_finalizer_cancelling_the_next_timer_while_dropping(loop):
    """A finalizer run while the head of the heap is dropped may cancel the
    timer that would be the next head: the loop does not sleep until it."""
    import contextvars

    var = contextvars.ContextVar("v")
    ran = []
    second = loop.call_later(5, ran.append, "second ran")

    class CancelOnDel:
        def __del__(self):
            second.cancel()

    ctx = contextvars.Context()
    ctx.run(var.set, CancelOnDel())
    first = loop.call_later(0.5, lambda: None, context=ctx)
    del ctx
    first.cancel()
    del first
    loop.call_later(1, loop.stop)
    t0 = time.monotonic()
    loop.start()
    assert ran == []
    assert time.monotonic() - t0 < 4

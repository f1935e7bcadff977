"""PeriodicCallback (docs/behaviour.md "PeriodicCallback"): the schedule
math of Tornado 6's TestPeriodicCallbackMath / TestPeriodicCallbackAsync,
then the same rules on a real loop."""

import asyncio
import datetime
import threading
import time
from unittest import mock

import pytest

from ioloop import IOLoop, PeriodicCallback

from support import run_until

pytestmark = pytest.mark.timeout(60)


def dummy():
    pass


def run_periodic(loop, pc, seconds):
    """Run ``loop`` for ``seconds``, stop ``pc`` on the loop, then let a
    tick that was already in flight finish (no task left pending)."""
    loop.call_later(seconds, pc.stop)
    loop.call_later(seconds + 0.01, loop.stop)
    loop.start()


# -- constructor -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, -0.5, 0.0, datetime.timedelta(0),
                                 datetime.timedelta(seconds=-1)])
def test_non_positive_callback_time_is_value_error(bad):
    with pytest.raises(ValueError):
        PeriodicCallback(dummy, bad)


@pytest.mark.parametrize("bad", ["x", None, [0.1], True, 1j])
def test_jitter_must_be_a_number(bad):
    with pytest.raises(TypeError, match="jitter"):
        PeriodicCallback(dummy, 10, jitter=bad)


@pytest.mark.parametrize("bad", [float("nan"), -0.1, -1, 2, 2.5, float("inf"), float("-inf")])
def test_jitter_out_of_range_is_value_error(bad):
    """Negative, NaN, or 2 and more (a period scaled by 1 + jitter *
    (random() - 0.5) could reach zero)."""
    with pytest.raises(ValueError, match="jitter"):
        PeriodicCallback(dummy, 10, jitter=bad)


@pytest.mark.parametrize("ok", [0, 0.0, 0.5, 1, 1.999])
def test_jitter_in_range_is_accepted(ok):
    pc = PeriodicCallback(dummy, 10, jitter=ok)
    assert pc.jitter == ok


def test_non_callable_is_type_error():
    with pytest.raises(TypeError):
        PeriodicCallback(None, 10)


def test_callback_time_is_milliseconds():
    assert PeriodicCallback(dummy, 250).callback_time == 250
    assert PeriodicCallback(dummy, 0.5).callback_time == 0.5


# -- the math (Tornado 6 TestPeriodicCallbackMath) ------------------------------------


def simulate_calls(pc, durations):
    """Times at which each call would be made, given call durations in
    seconds (negative values simulate the clock going backwards)."""
    calls = []
    now = 1000
    pc._next_timeout = now
    for d in durations:
        pc._update_next(now)
        calls.append(pc._next_timeout)
        now = pc._next_timeout + d
    return calls


def test_math_basic():
    pc = PeriodicCallback(dummy, 10000)
    assert simulate_calls(pc, [0] * 5) == [1010, 1020, 1030, 1040, 1050]


def test_math_overrun_skips_whole_cycles():
    call_durations = [9, 9, 10, 11, 20, 20, 35, 35, 0, 0, 0]
    expected = [
        1010, 1020, 1030,  # first 3 calls on schedule
        1050, 1070,  # next 2 delayed one cycle
        1100, 1130,  # next 2 delayed 2 cycles
        1170, 1210,  # next 2 delayed 3 cycles
        1220, 1230,  # then back on schedule
    ]
    pc = PeriodicCallback(dummy, 10000)
    assert simulate_calls(pc, call_durations) == expected


def test_math_clock_backwards():
    pc = PeriodicCallback(dummy, 10000)
    # Backwards jumps are ignored.
    assert simulate_calls(pc, [-2, -1, -3, -2, 0]) == [1010, 1020, 1030, 1040, 1050]
    # A big jump does not stall the schedule either.
    assert simulate_calls(pc, [-100, 0, 0]) == [1010, 1020, 1030]


def test_math_jitter():
    random_times = [0.5, 1, 0, 0.75]
    expected = [1010, 1022.5, 1030, 1041.25]
    call_durations = [0] * len(random_times)
    pc = PeriodicCallback(dummy, 10000, jitter=0.5)

    def mock_random():
        return random_times.pop(0)

    with mock.patch("random.random", mock_random):
        assert simulate_calls(pc, call_durations) == pytest.approx(expected)


def test_math_jitter_bounds():
    pc = PeriodicCallback(dummy, 10000, jitter=0.2)
    for r in (0.0, 0.25, 0.5, 0.999999):
        with mock.patch("random.random", return_value=r):
            pc._next_timeout = 1000
            pc._update_next(1000)
            delta = pc._next_timeout - 1000
            assert 10 * 0.9 - 1e-9 <= delta <= 10 * 1.1 + 1e-9


def test_math_timedelta():
    pc = PeriodicCallback(dummy, datetime.timedelta(minutes=1, seconds=23))
    assert pc.callback_time == 83000
    assert simulate_calls(pc, [0, 0]) == [1083, 1166]


def test_math_fractional_period():
    pc = PeriodicCallback(dummy, 2.5)
    assert simulate_calls(pc, [0, 0, 0]) == pytest.approx([1000.0025, 1000.005, 1000.0075])


# -- on a real loop -------------------------------------------------------------------------


def test_periodic_plain(loop):
    count = [0]

    def callback():
        count[0] += 1
        if count[0] == 3:
            pc.stop()
            loop.stop()

    loop.make_current()
    pc = PeriodicCallback(callback, 10)
    pc.start()
    assert pc.is_running()
    loop.call_later(5, loop.stop)
    loop.start()
    assert not pc.is_running()
    assert count[0] == 3


def test_start_binds_to_current_loop_at_start(make_loop, loop):
    """Created anywhere, started while `loop` is current: it runs on `loop`
    even when another loop is current later."""
    other = make_loop()
    try:
        ran_on = []
        pc = PeriodicCallback(lambda: ran_on.append(IOLoop.current()), 5)
        loop.make_current()
        pc.start()
        other.make_current()
        other.call_later(0.05, other.stop)
        other.start()
        assert ran_on == []
        run_periodic(loop, pc, 0.05)
        assert ran_on and all(lp is loop for lp in ran_on)
    finally:
        other.close()


def test_start_from_a_callback_in_another_thread_loop(make_loop):
    """Create in one thread, start in the loop's thread (Tornado PR #2179)."""
    pc_calls = []
    pc = PeriodicCallback(lambda: pc_calls.append(threading.get_ident()), 5)
    result = {}

    def target():
        lp = make_loop()
        try:
            lp.add_callback(pc.start)
            lp.call_later(0.06, pc.stop)
            lp.call_later(0.07, lp.stop)
            lp.start()
            result["ident"] = threading.get_ident()
        finally:
            lp.close()

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert pc_calls and set(pc_calls) == {result["ident"]}


def _on_grid(deadlines, period):
    """Each deadline is a whole number of periods after the first."""
    first = deadlines[0]
    return all(abs((d - first) / period - round((d - first) / period)) < 1e-6
               for d in deadlines)


def test_period_is_start_to_start(loop):
    """A callback taking 15 ms with a 30 ms period is scheduled every 30 ms
    from the start of the previous run (not every 45 ms). The check reads
    the deadlines the loop was given, so a busy machine that runs some
    calls late (or skips some) cannot make it fail."""
    deadlines = []

    def callback():
        deadlines.append(pc._timeout.when())
        time.sleep(0.015)

    loop.make_current()
    pc = PeriodicCallback(callback, 30)
    pc.start()
    run_until(loop, lambda: len(deadlines) >= 6, timeout=30)
    pc.stop()
    assert _on_grid(deadlines, 0.030), deadlines
    assert all(b > a for a, b in zip(deadlines, deadlines[1:])), deadlines


def test_missed_runs_are_skipped(loop):
    """After a run that overruns ~12 periods, the next run is the next
    period still ahead, on the same grid: no burst of catch-up runs."""
    deadlines = []
    ended = []

    def callback():
        deadlines.append(pc._timeout.when())
        if len(deadlines) == 2:
            time.sleep(0.12)  # miss ~12 periods
        ended.append(time.monotonic())

    loop.make_current()
    pc = PeriodicCallback(callback, 10)
    pc.start()
    run_until(loop, lambda: len(deadlines) >= 5, timeout=30)
    pc.stop()
    assert _on_grid(deadlines, 0.010), deadlines
    # Every run after the first was scheduled in the future of the end of
    # the run before it: a missed period is skipped, never run late in a
    # burst.
    for previous_end, deadline in zip(ended, deadlines[1:]):
        assert deadline > previous_end, (deadlines, ended)
    assert deadlines[2] - deadlines[1] >= 0.12, deadlines


def test_stop_inside_callback_and_restart(loop):
    count = [0]
    pc = None

    def callback():
        count[0] += 1
        pc.stop()

    loop.make_current()
    pc = PeriodicCallback(callback, 5)
    pc.start()
    loop.call_later(0.06, loop.stop)
    loop.start()
    assert count[0] == 1
    assert not pc.is_running()
    pc.start()
    loop.call_later(0.06, loop.stop)
    loop.start()
    assert count[0] == 2


def test_start_twice_does_not_duplicate(loop):
    count = [0]

    def callback():
        count[0] += 1

    loop.make_current()
    pc = PeriodicCallback(callback, 50)
    pc.start()
    pc.start()
    run_periodic(loop, pc, 0.275)
    # ~5-6 runs for one timer chain; ~11 if started twice.
    assert 2 <= count[0] <= 7, count[0]


def test_stop_cancels_pending_timer(loop):
    count = [0]
    loop.make_current()
    pc = PeriodicCallback(lambda: count.__setitem__(0, count[0] + 1), 20)
    pc.start()
    pc.stop()
    loop.call_later(0.08, loop.stop)
    loop.start()
    assert count[0] == 0
    assert loop._timer_count() <= 1


def test_exception_in_callback_reported_and_keeps_running(loop):
    count = [0]
    reported = []

    def callback():
        count[0] += 1
        raise ValueError("periodic")

    loop.handle_callback_exception = lambda cb: reported.append(cb)
    loop.set_exception_handler(lambda lp, ctx: reported.append(ctx))
    loop.make_current()
    pc = PeriodicCallback(callback, 10)
    pc.start()
    run_periodic(loop, pc, 0.1)
    assert count[0] >= 3
    assert len(reported) >= 3


def test_async_callback_never_overlaps(loop):
    active = [0]
    max_active = [0]
    counts = [0, 0]

    async def callback():
        counts[0] += 1
        active[0] += 1
        max_active[0] = max(max_active[0], active[0])
        await asyncio.sleep(0.025)
        active[0] -= 1
        counts[1] += 1
        if counts[1] == 3:
            pc.stop()
            loop.add_callback(loop.stop)

    loop.make_current()
    pc = PeriodicCallback(callback, 10)
    pc.start()
    loop.call_later(5, loop.stop)
    loop.start()
    assert counts == [3, 3]
    assert max_active[0] == 1


def test_async_callback_slow_runs_back_to_back_not_piled_up(loop):
    starts = []

    async def callback():
        starts.append(time.monotonic())
        await asyncio.sleep(0.05)

    loop.make_current()
    pc = PeriodicCallback(callback, 10)
    pc.start()
    run_periodic(loop, pc, 0.3)
    # each run takes 50 ms: at most ~6 starts in 300 ms
    assert 3 <= len(starts) <= 7, len(starts)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(g >= 0.05 for g in gaps), gaps
    # let the last, stopped run finish
    loop.call_later(0.08, loop.stop)
    loop.start()


def test_jitter_on_real_loop_never_shortens_below_bound(loop):
    """jitter=0.5 scatters a 20 ms period within 15..25 ms: in 0.4 s there
    can be at most 0.4 / 0.015 + 1 runs (fewer if the machine is busy)."""
    times = []
    loop.make_current()
    pc = PeriodicCallback(lambda: times.append(time.monotonic()), 20, jitter=0.5)
    pc.start()
    run_periodic(loop, pc, 0.4)
    assert 5 <= len(times) <= int(0.4 / 0.015) + 1, len(times)

"""ioloop.testing: the virtual clock, autojump and advance(), on the engine
under test.

Real elapsed times are only bounded loosely (a virtual hour must not take
minutes): the point is that the loop did not sleep, which a loaded machine
cannot fake.
"""

import asyncio
import datetime
import functools
import math
import random
import socket
import threading
import time

import pytest

import ioloop
from ioloop import IOLoop, PeriodicCallback
from ioloop.testing import VirtualClockIOLoop, new_virtual_loop

# VirtualClockIOLoop is an ioloop.IOLoop: on the default engine.
pytestmark = [pytest.mark.timeout(60), pytest.mark.default_engine]

# A loop that slept instead of jumping would take an hour; a loaded
# machine takes well under this.
FAST = 5.0


@pytest.fixture
def vloop():
    lp = VirtualClockIOLoop()
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.close()


def _real(func, *args):
    t0 = time.monotonic()
    result = func(*args)
    return result, time.monotonic() - t0


# -- autojump ------------------------------------------------------------------------


def test_sleep_an_hour_is_fast(vloop):
    async def main():
        t0 = vloop.time()
        await asyncio.sleep(3600)
        return vloop.time() - t0

    virtual, real = _real(vloop.run_until_complete, main())
    assert virtual >= 3600
    assert virtual < 3600 + FAST
    assert real < FAST


def test_run_helper_and_factory():
    async def main():
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualClockIOLoop)
        t0 = loop.time()
        await asyncio.sleep(86400 * 365)
        return loop.time() - t0

    virtual, real = _real(ioloop.testing.run, main())
    assert virtual >= 86400 * 365
    assert real < FAST
    loop = new_virtual_loop(0.25)
    try:
        assert isinstance(loop, VirtualClockIOLoop)
        assert loop.autojump_threshold == 0.25
        assert not loop.is_running()
        assert IOLoop.current(instance=False) is not loop
    finally:
        loop.close()


def test_wait_for_timeout_is_fast(vloop):
    async def main():
        t0 = vloop.time()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 30)
        return vloop.time() - t0

    virtual, real = _real(vloop.run_until_complete, main())
    assert 30 <= virtual < 30 + FAST
    assert real < FAST


def test_asyncio_timeout_uses_virtual_time(vloop):
    if not hasattr(asyncio, "timeout"):
        pytest.skip("asyncio.timeout is Python 3.11+")

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(120):
                await asyncio.sleep(3600)
        return vloop.time()

    t0 = vloop.time()
    end, real = _real(vloop.run_until_complete, main())
    assert 120 <= end - t0 < 120 + FAST
    assert real < FAST


def test_many_timers_fire_in_deadline_order(vloop):
    rng = random.Random(1234)
    fired = []
    expected = []
    t0 = vloop.time()
    for i in range(2000):
        delay = rng.choice([rng.uniform(0, 10000), float(rng.randrange(0, 50)), 3600.0])
        kind = i % 3
        if kind == 0:
            h = vloop.call_later(delay, lambda i=i: fired.append((i, vloop.time())))
        elif kind == 1:
            h = vloop.call_at(t0 + delay, lambda i=i: fired.append((i, vloop.time())))
        else:
            h = vloop.add_timeout(t0 + delay, lambda i=i: fired.append((i, vloop.time())))
        expected.append((h.when(), i))
    last = max(w for w, _ in expected)
    vloop.call_at(last + 1, vloop.stop)
    _, real = _real(vloop.start)
    assert real < FAST
    # Deadline order; equal deadlines in scheduling order.
    assert [i for i, _ in fired] == [i for _, i in sorted(expected)]
    whens = dict((i, w) for w, i in expected)
    for i, at in fired:
        assert at >= whens[i]  # never early
    times = [at for _, at in fired]
    assert times == sorted(times)


def test_time_is_monotonic_and_shared(vloop):
    seen = []

    async def sampler():
        for _ in range(200):
            seen.append(vloop.time())
            seen.append(IOLoop.current().time())
            await asyncio.sleep(random.choice([0, 0.001, 1, 60, 3600]))

    async def main():
        assert IOLoop.current() is vloop
        await asyncio.gather(sampler(), sampler())

    vloop.run_until_complete(main())
    assert seen == sorted(seen)
    assert seen[-1] - seen[0] > 3600
    # time() runs ahead of the monotonic clock and never falls behind it.
    assert vloop.time() >= time.monotonic()


def test_classic_add_timeout_and_periodic_callback(vloop):
    ticks = []
    done = []
    pc = PeriodicCallback(lambda: ticks.append(vloop.time()), 1000)  # ms

    def finish():
        done.append(vloop.time())
        pc.stop()
        vloop.stop()

    t0 = vloop.time()
    vloop.add_timeout(datetime.timedelta(hours=1), finish)
    vloop.add_callback(pc.start)
    _, real = _real(vloop.start)
    assert real < FAST
    assert done and done[0] - t0 >= 3600
    # About one tick per virtual second for an hour, each a second apart.
    assert 3590 <= len(ticks) <= 3601
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert all(math.isclose(g, 1.0, abs_tol=0.01) for g in gaps[1:]), gaps[:10]


def test_run_sync_timeout_on_virtual_time(vloop):
    async def forever():
        await asyncio.Event().wait()

    t0 = vloop.time()
    with pytest.raises(ioloop.TimeoutError):
        vloop.run_sync(forever, timeout=30)
    assert vloop.time() - t0 >= 30

    async def hour():
        await asyncio.sleep(3600)
        return "slept"

    result, real = _real(functools.partial(vloop.run_sync, hour, timeout=7200))
    assert result == "slept"
    assert real < FAST


def test_debug_mode_does_not_report_jumps_as_slow_callbacks(vloop, caplog):
    vloop.set_debug(True)
    vloop.slow_callback_duration = 1.0

    async def main():
        for _ in range(5):
            await asyncio.sleep(600)

    with caplog.at_level("WARNING"):
        vloop.run_until_complete(main())
    assert "took" not in caplog.text


# -- I/O ---------------------------------------------------------------------------------


def test_io_on_a_socketpair_with_threshold_zero(vloop):
    a, b = socket.socketpair()
    try:
        async def main():
            ra, wa = await asyncio.open_connection(sock=a)
            rb, wb = await asyncio.open_connection(sock=b)
            ticker = asyncio.ensure_future(asyncio.sleep(10 ** 6))
            for i in range(100):
                wa.write(b"ping %d\n" % i)
                assert await rb.readline() == b"ping %d\n" % i
                wb.write(b"pong %d\n" % i)
                assert await ra.readline() == b"pong %d\n" % i
            ticker.cancel()
            wa.close()
            wb.close()
            await wa.wait_closed()
            await wb.wait_closed()

        _, real = _real(vloop.run_until_complete, main())
        assert real < FAST
    finally:
        a.close()
        b.close()


def test_reader_answering_within_threshold_is_not_skipped():
    # The peer (a thread) answers after 50 ms of real time; the loop waits
    # up to 10 s for I/O before jumping, so the answer comes first and the
    # clock has not jumped to the one-hour timeout.
    loop = VirtualClockIOLoop(autojump_threshold=10.0)
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        def peer():
            time.sleep(0.05)
            b.sendall(b"answer")

        async def main():
            t0 = loop.time()
            threading.Thread(target=peer).start()
            data = await asyncio.wait_for(loop.sock_recv(a, 100), 3600)
            return data, loop.time() - t0

        (data, virtual), real = _real(loop.run_until_complete, main())
        assert data == b"answer"
        assert virtual < 10.0
        assert real < 10.0
    finally:
        a.close()
        b.close()
        loop.close()


def test_jump_after_threshold_when_no_io_comes():
    loop = VirtualClockIOLoop(autojump_threshold=0.05)
    try:
        async def main():
            t0 = loop.time()
            await asyncio.sleep(3600)
            return loop.time() - t0

        virtual, real = _real(loop.run_until_complete, main())
        assert virtual >= 3600
        assert 0.04 <= real < FAST  # waited the threshold, not the hour
    finally:
        loop.close()


# -- threads ------------------------------------------------------------------------------


def test_call_soon_threadsafe_wakes_a_jumping_loop(vloop):
    # The loop keeps jumping (a task sleeps a virtual second at a time);
    # a thread's callback still gets in.
    async def main():
        fut = vloop.create_future()
        stop = []

        async def ticker():
            n = 0
            while not stop:
                await asyncio.sleep(1)
                n += 1
            return n

        t = asyncio.ensure_future(ticker())

        def poster():
            time.sleep(0.1)
            vloop.call_soon_threadsafe(fut.set_result, "from thread")

        threading.Thread(target=poster).start()
        result = await fut
        stop.append(True)
        return result, await t

    (result, ticks), real = _real(vloop.run_until_complete, main())
    assert result == "from thread"
    assert ticks >= 1
    assert real < FAST


def test_call_soon_threadsafe_wakes_a_loop_in_its_threshold_wait():
    loop = VirtualClockIOLoop(autojump_threshold=10.0)
    try:
        async def main():
            fut = loop.create_future()
            t0 = loop.time()
            threading.Timer(0.05, loop.call_soon_threadsafe, (fut.set_result, 1)).start()
            got = await asyncio.wait_for(fut, 3600)
            return got, loop.time() - t0

        (got, virtual), real = _real(loop.run_until_complete, main())
        assert got == 1
        assert virtual < 10.0 and real < 10.0
    finally:
        loop.close()


def test_executor_jobs_take_real_time(vloop):
    # While a run_in_executor job runs the clock does not jump, so a
    # timeout around it is not hit by a jump.
    async def main():
        t0 = vloop.time()
        result = await asyncio.wait_for(vloop.run_in_executor(None, time.sleep, 0.2), 30)
        assert result is None
        mid = vloop.time() - t0
        await asyncio.sleep(3600)  # and autojump is back afterwards
        return mid, vloop.time() - t0

    (mid, end), real = _real(vloop.run_until_complete, main())
    assert 0.2 <= mid < 30
    assert end >= 3600
    assert real < FAST
    vloop.run_until_complete(vloop.shutdown_default_executor())
    assert vloop.autojump_threshold == 0.0
    assert vloop._get_autojump_threshold() == 0.0


# -- advance() and settings --------------------------------------------------------------


def test_advance_by_hand():
    loop = VirtualClockIOLoop(autojump_threshold=None)
    try:
        fired = []
        loop.call_later(10, fired.append, "a")
        loop.add_timeout(loop.time() + 20, fired.append, "b")
        t0 = loop.time()
        loop.advance(5)
        assert loop.time() - t0 >= 5
        loop.call_later(0, loop.stop)
        loop.start()
        assert fired == []
        loop.advance(5)
        loop.call_later(0, loop.stop)
        loop.start()
        assert fired == ["a"]
        loop.advance(100)
        loop.call_later(0, loop.stop)
        loop.start()
        assert fired == ["a", "b"]
    finally:
        loop.close()


def test_advance_inside_a_coroutine():
    loop = VirtualClockIOLoop(autojump_threshold=None)
    try:
        async def main():
            sleeper = asyncio.ensure_future(asyncio.sleep(3600, result="woke"))
            await asyncio.sleep(0)
            loop.advance(3600)
            return await sleeper

        result, real = _real(loop.run_until_complete, main())
        assert result == "woke"
        assert real < FAST
    finally:
        loop.close()


def test_autojump_off_sleeps_in_real_time():
    loop = VirtualClockIOLoop(autojump_threshold=None)
    try:
        t0 = loop.time()
        _, real = _real(loop.run_until_complete, asyncio.sleep(0.05))
        assert real >= 0.04
        assert loop.time() - t0 >= 0.05
        loop.autojump_threshold = 0.0
        _, real = _real(loop.run_until_complete, asyncio.sleep(3600))
        assert real < FAST
    finally:
        loop.close()


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (float("nan"), ValueError),
                                     (float("inf"), ValueError), ("1", TypeError),
                                     (None, TypeError)])
def test_advance_rejects_bad_input(vloop, bad, exc):
    with pytest.raises(exc, match="seconds"):
        vloop.advance(bad)


@pytest.mark.parametrize("bad,exc", [(-0.5, ValueError), (float("nan"), ValueError),
                                     (float("inf"), ValueError), ("0", TypeError)])
def test_threshold_rejects_bad_input(bad, exc):
    with pytest.raises(exc, match="autojump_threshold"):
        VirtualClockIOLoop(autojump_threshold=bad)
    loop = VirtualClockIOLoop()
    try:
        with pytest.raises(exc, match="autojump_threshold"):
            loop.autojump_threshold = bad
        assert loop.autojump_threshold == 0.0
    finally:
        loop.close()
    with pytest.raises(exc, match="autojump_threshold"):
        ioloop.testing.run(asyncio.sleep(0), autojump_threshold=bad)


def test_plain_ioloop_is_unaffected(loop):
    assert loop._get_autojump_threshold() is None
    t0 = time.monotonic()
    assert abs(loop.time() - t0) < 1.0
    _, real = _real(loop.run_until_complete, asyncio.sleep(0.05))
    assert real >= 0.04


def test_policy_makes_virtual_loops():
    policy_cls = ioloop.testing.VirtualClockEventLoopPolicy
    if policy_cls is None:
        pytest.skip("this Python has no asyncio event loop policies")
    loop = policy_cls(autojump_threshold=0.5).new_event_loop()
    try:
        assert isinstance(loop, VirtualClockIOLoop)
        assert loop.autojump_threshold == 0.5
    finally:
        loop.close()
    with pytest.raises(ValueError, match="autojump_threshold"):
        policy_cls(-1)


"""Observability API, typed: stats(), the watchdog, introspection and
run_once(); type-checked with mypy --strict and pyright, and run."""

from __future__ import annotations

import asyncio
import selectors

from ioloop import FdInfo, IOLoop, LoopStats, TimerInfo


def observe() -> float:
    loop = IOLoop()
    loop.set_blocking_threshold(0.5)
    threshold: float | None = loop.get_blocking_threshold()
    assert threshold == 0.5
    before: LoopStats = loop.stats()
    loop.add_callback(loop.stop)
    loop.start()
    after = loop.stats()
    busy: float = after.utilization(before)
    counts: int = after.callbacks + after.io_handlers + after.timers + after.stalls
    longest: str | None = after.longest_callback_repr
    low, high = LoopStats.lag_bounds(3)
    lag: tuple[int, ...] = after.lag_histogram
    fds: list[FdInfo] = loop.registered_fds()
    timers: list[TimerInfo] = loop.pending_timers()
    print(counts, longest, low < high, len(lag), fds, timers)
    loop.set_blocking_threshold(None)
    loop.close()
    return busy


async def answer() -> int:
    await asyncio.sleep(0.01)
    return 42


def embedded() -> int:
    loop = IOLoop()
    host = selectors.DefaultSelector()
    host.register(loop.fileno(), selectors.EVENT_READ)
    task = loop.create_task(answer())
    while not task.done():
        timeout: float | None = loop.poll_timeout()
        host.select(timeout)
        loop.run_once()
    loop.run_once(timeout=0.0)
    loop.call_later(0.01, print, "timer")
    loop.run_once(None)  # waits for the timer
    host.close()
    loop.close()
    return task.result()


if __name__ == "__main__":
    print(observe(), embedded())

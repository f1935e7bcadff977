"""Wrong programs: every line marked ``# E`` must be rejected by the type
checkers, and no other line (tests/test_typing.py). Never run."""

from __future__ import annotations

from ioloop import IOLoop, LoopStats


def wrong(loop: IOLoop) -> None:
    loop.set_blocking_threshold("0.1")  # E: seconds, a number or None
    loop.run_once(timeout="0")  # E: a number or None
    stats = loop.stats()
    stats.callbacks = 3  # E: a frozen snapshot
    n: int = stats.longest_callback_repr  # E: a str or None
    ratio: str = stats.utilization()  # E: a float
    stats.utilization(since=1.0)  # E: another LoopStats
    LoopStats.lag_bounds("3")  # E: a bucket index
    fd: int = loop.registered_fds()  # E: a list of FdInfo
    print(n, ratio, fd)

"""``PeriodicCallback``: Tornado 6 semantics on ioloop."""

from __future__ import annotations

import datetime
import inspect
import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._engine_py import TimerHandle
    from ._loop import IOLoop

__all__ = ["PeriodicCallback"]


class PeriodicCallback:
    """Calls ``callback()`` every ``callback_time`` milliseconds.

    ``callback_time`` is in milliseconds (a number; most other times in
    ioloop are seconds) or a ``datetime.timedelta``. The period is measured
    from the start of one run to the start of the next; runs missed
    because the loop was busy, or the callback slow, are skipped, not
    queued, so the schedule keeps its phase. A clock that goes backwards
    never makes it run early or stall.

    ``jitter`` scatters each period by up to ``jitter/2`` of it either
    way (``jitter=0.1``: 95% to 105% of ``callback_time``), to keep
    periodic tasks of many processes from running in step. It is a number
    from 0 (the default: no jitter) up to, not including, 2 (which could
    make a period zero).

    The callback's return value is ignored, except an awaitable (an
    ``async def`` callback), which is awaited before the next run is
    scheduled: runs never overlap. An exception it raises goes to the
    loop's ``handle_callback_exception`` and the runs go on.

    Nothing runs until ``start()``, which binds the callback to
    ``IOLoop.current()`` at that moment; ``stop()`` ends the runs.

    Raises ``TypeError`` if ``callback`` is not callable,
    ``callback_time`` is neither a number nor a ``timedelta`` or
    ``jitter`` is not a number, and ``ValueError`` if ``callback_time`` is
    not a positive, finite period or ``jitter`` is NaN, negative or 2 or
    more.
    """

    callback: Callable[[], object]
    callback_time: float
    jitter: float
    io_loop: IOLoop | None

    def __init__(self, callback: Callable[[], object],
                 callback_time: float | datetime.timedelta, jitter: float = 0) -> None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if isinstance(callback_time, datetime.timedelta):
            callback_time = callback_time / datetime.timedelta(milliseconds=1)
        elif not isinstance(callback_time, (int, float)) or isinstance(callback_time, bool):
            raise TypeError(f"callback_time must be milliseconds or a timedelta, "
                            f"not {type(callback_time).__name__}")
        if not callback_time > 0 or math.isinf(callback_time):
            raise ValueError(f"callback_time must be a positive number of "
                             f"milliseconds, not {callback_time!r}")
        if not isinstance(jitter, (int, float)) or isinstance(jitter, bool):
            raise TypeError(f"jitter must be a number, not {type(jitter).__name__}: {jitter!r}")
        # A period is scaled by 1 + jitter * (random() - 0.5), down to
        # 1 - jitter/2: jitter 2 or more could make it zero or negative.
        if not 0 <= jitter < 2:
            raise ValueError(f"jitter must be at least 0 and less than 2, not {jitter!r}")
        self.callback = callback
        self.callback_time = callback_time
        self.jitter = jitter
        self.io_loop = None
        self._running = False
        self._timeout: TimerHandle | None = None
        self._next_timeout = 0.0

    def start(self) -> None:
        """Starts the runs on ``IOLoop.current()``.

        The first run is one period from now. Does nothing if already
        started. Call it from the thread of the loop it should run on.
        """
        from ._loop import IOLoop
        if self._running:
            return
        self.io_loop = io_loop = IOLoop.current()
        self._running = True
        self._next_timeout = io_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        """Stops the runs; ``start()`` starts them again.

        A run in progress (an ``async def`` callback being awaited) is not
        cancelled, but no run follows it. Call it from the loop's thread.
        """
        self._running = False
        if self._timeout is not None:
            assert self.io_loop is not None
            self.io_loop.remove_timeout(self._timeout)
            self._timeout = None

    def is_running(self) -> bool:
        """Returns ``True`` between ``start()`` and ``stop()``."""
        return self._running

    async def _run(self) -> None:
        if not self._running:
            return
        io_loop = self.io_loop
        assert io_loop is not None
        try:
            result = self.callback()
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            io_loop.handle_callback_exception(self.callback)
        finally:
            self._schedule_next()

    def _schedule_next(self) -> None:
        if self._running:
            io_loop = self.io_loop
            assert io_loop is not None
            self._update_next(io_loop.time())
            self._timeout = io_loop.add_timeout(self._next_timeout, self._run)

    def _update_next(self, current_time: float) -> None:
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + (self.jitter * (random.random() - 0.5))
        if self._next_timeout <= current_time:
            # Skip the runs we missed; keep the phase.
            self._next_timeout += (math.floor((current_time - self._next_timeout) / period) + 1) * period
        else:
            # The clock went backwards (or we are early): one period on.
            self._next_timeout += period

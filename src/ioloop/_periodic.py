"""``PeriodicCallback``: Tornado 6 semantics on ioloop."""

import datetime
import inspect
import math
import random

__all__ = ["PeriodicCallback"]


class PeriodicCallback:
    """Call ``callback`` every ``callback_time`` milliseconds (a number or a
    ``datetime.timedelta``).

    The period is measured start to start; runs missed because the loop was
    busy (or the callback slow) are skipped, not queued; a clock that moves
    backwards never makes it run early or stall. ``jitter`` scatters each
    period by up to ``±jitter/2`` of it. An ``async def`` callback is awaited
    before the next run is scheduled, so runs never overlap.

    ``start()`` binds the callback to ``IOLoop.current()`` at that moment.
    """

    def __init__(self, callback, callback_time, jitter=0):
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
        self.callback = callback
        self.callback_time = callback_time
        self.jitter = jitter
        self.io_loop = None
        self._running = False
        self._timeout = None
        self._next_timeout = 0.0

    def start(self):
        from ._loop import IOLoop
        if self._running:
            return
        self.io_loop = IOLoop.current()
        self._running = True
        self._next_timeout = self.io_loop.time()
        self._schedule_next()

    def stop(self):
        self._running = False
        if self._timeout is not None:
            self.io_loop.remove_timeout(self._timeout)
            self._timeout = None

    def is_running(self):
        return self._running

    async def _run(self):
        if not self._running:
            return
        try:
            result = self.callback()
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            self.io_loop.handle_callback_exception(self.callback)
        finally:
            self._schedule_next()

    def _schedule_next(self):
        if self._running:
            self._update_next(self.io_loop.time())
            self._timeout = self.io_loop.add_timeout(self._next_timeout, self._run)

    def _update_next(self, current_time):
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + (self.jitter * (random.random() - 0.5))
        if self._next_timeout <= current_time:
            # Skip the runs we missed; keep the phase.
            self._next_timeout += (math.floor((current_time - self._next_timeout) / period) + 1) * period
        else:
            # The clock went backwards (or we are early): one period on.
            self._next_timeout += period

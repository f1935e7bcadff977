"""Observability: ``stats()``, the blocking-loop watchdog, introspection of
fds and timers, and driving the loop from another main loop (``run_once``,
``poll_timeout``). The counters live in the engine (a C struct in
``_core.Loop``, plain attributes in the pure-Python twin); this module turns
them into typed snapshots. See docs/observability.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import numbers
import sys
import threading
import traceback
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from . import _common

if TYPE_CHECKING:
    from ._net import _LoopBase
else:
    _LoopBase = object

__all__ = ["FdInfo", "LoopStats", "ObserveMixin", "TimerInfo"]

logger = logging.getLogger("ioloop")
_asyncio_logger = logging.getLogger("asyncio")


@dataclass(frozen=True)
class LoopStats:
    """A snapshot of a loop's counters, returned by ``IOLoop.stats()``.

    Counts are totals since the loop was created:

    - ``time``: ``loop.time()`` when the snapshot was taken.
    - ``iterations``: loop iterations (each polls for I/O at most once).
    - ``callbacks``: callbacks started from the ready queue
      (``add_callback``, ``call_soon``, task steps, future callbacks).
    - ``io_handlers``: I/O handlers started (``add_handler`` handlers,
      ``add_reader``/``add_writer`` callbacks, transport events).
    - ``timers``: timers started (``add_timeout``, ``call_later``,
      ``call_at``).
    - ``timers_pending``: timers scheduled and not yet run or cancelled.
    - ``timers_cancelled``: timers cancelled before they came due.
    - ``fds``: file descriptors registered now.
    - ``ready``: callbacks in the ready queue now.
    - ``active_time`` and ``idle_time``: seconds the loop ran (outside
      ``epoll_wait``) and slept in a blocking ``epoll_wait``, while running.
      ``utilization()`` turns two snapshots into Node's event loop
      utilization.
    - ``longest_callback``: the longest a single callback, handler, timer or
      transport event took, in seconds, with ``longest_callback_repr``
      describing it (a task's repr for a task step). Each one is timed on its
      own: two reads of a cycle counter (or of ``CLOCK_MONOTONIC`` where there
      is none) around the call, so it includes the exception report of a
      callback that failed, and nothing else.
    - ``lag_histogram``: how late timers started: bucket 0 counts lags under
      1 microsecond, bucket ``i`` lags from ``2**(i-1)`` up to ``2**i``
      microseconds, the last bucket everything above (see ``lag_bounds``). A
      timer's lag is measured when the loop starts the iteration's due timers,
      so it includes time the loop spent in other callbacks, or blocked.
    - ``stalls``: warnings the blocking-loop watchdog logged
      (``set_blocking_threshold``).
    """

    LAG_BUCKETS: ClassVar[int] = 24

    time: float
    iterations: int
    callbacks: int
    io_handlers: int
    timers: int
    timers_pending: int
    timers_cancelled: int
    fds: int
    ready: int
    active_time: float
    idle_time: float
    longest_callback: float
    longest_callback_repr: str | None
    lag_histogram: tuple[int, ...]
    stalls: int

    def utilization(self, since: LoopStats | None = None) -> float:
        """Returns the fraction of time the loop was busy, from 0.0 to 1.0.

        Node's ``performance.eventLoopUtilization``: active time over active
        plus idle time, where idle is the time spent sleeping in
        ``epoll_wait``. With ``since``, an earlier snapshot of the same loop,
        over the interval between the two; else over the loop's whole life.
        Time when the loop was not running counts neither way. Returns 0.0
        when no time was counted.
        """
        active, idle = self.active_time, self.idle_time
        if since is not None:
            if not isinstance(since, LoopStats):
                raise TypeError(f"since must be a LoopStats or None, not {type(since).__name__}")
            active -= since.active_time
            idle -= since.idle_time
        total = active + idle
        return active / total if total > 0 else 0.0

    @staticmethod
    def lag_bounds(bucket: int) -> tuple[float, float]:
        """Returns ``(low, high)``, in seconds, of the lags that bucket
        ``bucket`` of ``lag_histogram`` counts (``high`` is ``inf`` for the
        last one)."""
        if isinstance(bucket, bool) or not isinstance(bucket, int):
            raise TypeError(f"bucket must be an int, not {type(bucket).__name__}")
        if not 0 <= bucket < LoopStats.LAG_BUCKETS:
            raise ValueError(f"bucket must be in range(0, {LoopStats.LAG_BUCKETS}), not {bucket}")
        low = 0.0 if bucket == 0 else 2.0 ** (bucket - 1) / 1e6
        high = math.inf if bucket == LoopStats.LAG_BUCKETS - 1 else 2.0 ** bucket / 1e6
        return low, high


@dataclass(frozen=True)
class FdInfo:
    """One registered file descriptor, from ``IOLoop.registered_fds()``.

    - ``fd``: the fd number; ``events``: the epoll mask registered for it
      (``IOLoop.READ``, ``WRITE``, ``ERROR``... bits).
    - ``kind``: ``"handler"`` (``add_handler``), ``"reader/writer"``
      (``add_reader``/``add_writer``) or ``"transport"`` (an asyncio
      transport of this loop).
    - ``obj``: repr of the object passed to ``add_handler`` (the int fd or the
      socket...); ``handler``: repr of its handler, or of the transport.
    - ``reader`` and ``writer``: reprs of the ``add_reader``/``add_writer``
      handles, or None.
    """

    fd: int
    events: int
    kind: str
    obj: str | None
    handler: str | None
    reader: str | None
    writer: str | None


@dataclass(frozen=True)
class TimerInfo:
    """One pending timer, from ``IOLoop.pending_timers()``: ``when``, its
    deadline on the ``loop.time()`` scale, and ``callback``, a description of
    what it will run (the timer handle's repr, or a task's)."""

    when: float
    callback: str


def _safe_repr(obj: object) -> str | None:
    if obj is None:
        return None
    return _common.describe_callback(obj, None)


class _Watchdog:
    """A daemon thread that warns while one callback runs past a threshold.

    It sleeps in the engine's ``_watch``, without the GIL in the compiled
    engine, looking a few times per threshold at the two words the loop's
    thread stores for every callback anyway (what runs, and since when); it
    takes the GIL only to report a stall. It holds the loop through a weak
    reference between waits of at most a second.
    """

    def __init__(self, loop: ObserveMixin, threshold: float) -> None:
        self.threshold = threshold
        self._stopped = False
        self._loop_ref = weakref.ref(loop)
        self._gen = loop._watch_stop()  # ends an older watchdog's wait
        self.thread = threading.Thread(target=self._run, name="ioloop-watchdog", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stopped = True
        loop = self._loop_ref()
        if loop is not None:
            loop._watch_stop()
        del loop
        if self.thread is not threading.current_thread() and self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        threshold = self.threshold
        warned: int | None = None
        while not self._stopped:
            loop = self._loop_ref()
            if loop is None or loop.is_closed():
                return
            seq = loop._watch(threshold, 1.0, warned, self._gen)
            if seq is not None and not self._stopped:
                busy = loop._busy()
                # Confirm under the GIL: the same callback, still running.
                if busy is not None and busy[0] == seq and busy[3] >= threshold:
                    warned = seq
                    loop._report_stall(seq, busy[1], busy[2], busy[3], threshold)
                del busy
            del loop


class ObserveMixin(_LoopBase):
    """``stats``, ``set_blocking_threshold``, ``registered_fds``,
    ``pending_timers``, ``poll_timeout`` and ``run_once``.

    State lives in the instance ``__dict__``, created on first use.
    """

    if TYPE_CHECKING:
        # (A type comment: a class-level annotation would put __annotations__
        # into help(IOLoop).)
        _thread_id = None  # type: int | None

        def _check_runnable(self) -> None: ...
        def _enter_running(self) -> Any: ...
        def _exit_running(self, state: Any) -> None: ...

    # -- telemetry

    def stats(self) -> LoopStats:
        """Returns a snapshot of the loop's counters (a `LoopStats`).

        The counters are always on and cost a few instructions per callback.
        Safe to call from any thread, running loop or not; while the loop
        runs, the time since its last poll is counted as active (or idle,
        if it is sleeping in ``epoll_wait`` now). Use
        ``later.utilization(earlier)`` for the loop's utilization between
        two snapshots.
        """
        raw = self._stats_raw()
        return LoopStats(time=self.time(), iterations=raw[0], callbacks=raw[1],
                         io_handlers=raw[2], timers=raw[3], timers_pending=raw[4],
                         timers_cancelled=raw[5], fds=raw[6], ready=raw[7],
                         active_time=raw[8], idle_time=raw[9], longest_callback=raw[10],
                         longest_callback_repr=raw[11], lag_histogram=raw[12],
                         stalls=self.__dict__.get("_observe_stalls", 0))

    # -- the blocking-loop watchdog

    def set_blocking_threshold(self, seconds: float | None) -> None:
        """Warns when one callback blocks the loop for ``seconds`` or more.

        A watchdog thread checks what the loop runs; when a single callback,
        handler, timer, transport event or task step has been running for
        ``seconds``, it logs one WARNING for that stall, while it is still
        going, with what runs and the loop thread's stack at that moment
        (``sys._current_frames()``): on the ``asyncio`` logger for asyncio's
        API (``call_soon``, ``call_later``, readers and writers, tasks,
        transports), else on the ``ioloop`` logger. ``stats().stalls``
        counts them. Time the loop sleeps in ``epoll_wait`` never counts.
        Works with debug mode off. The watchdog thread looks every
        ``seconds / 4`` (at most every 50 ms), without taking the GIL on the
        compiled engine, so the warning comes that much late at most (later
        if the callback holds the GIL in C code: the report needs it).

        ``None`` turns the watchdog off. Calling it again replaces the
        threshold. The thread ends with ``close()``, or when the loop is
        garbage-collected. After ``fork()``, call it again in the child.
        Raises `TypeError` if ``seconds`` is not a number or None,
        `ValueError` if it is not positive and finite, and `RuntimeError` if
        the loop is closed.
        """
        if seconds is None:
            self._stop_watchdog()
            return
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
            raise TypeError("seconds must be a number of seconds or None, "
                            f"not {type(seconds).__name__}: {seconds!r}")
        value = float(seconds)
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"seconds must be positive and finite, not {seconds!r}")
        if self.is_closed():
            raise RuntimeError("IOLoop is closed")
        self._stop_watchdog()
        self.__dict__["_observe_watchdog"] = _Watchdog(self, value)

    def get_blocking_threshold(self) -> float | None:
        """Returns the watchdog's threshold in seconds, or None when it is off
        (see `set_blocking_threshold`)."""
        dog = self.__dict__.get("_observe_watchdog")
        return None if dog is None else dog.threshold

    def _stop_watchdog(self) -> None:
        dog = self.__dict__.pop("_observe_watchdog", None)
        if dog is not None:
            dog.stop()

    def _report_stall(self, seq: int, report: object, callback: object, elapsed: float,
                      threshold: float) -> None:
        # On the watchdog's thread, holding the GIL: the loop's thread is
        # paused inside the callback, unless it moved on meanwhile.
        tid = self._thread_id
        frame = sys._current_frames().get(tid) if tid is not None else None
        stack = traceback.extract_stack(frame) if frame is not None else None
        del frame
        again = self._busy()
        if again is None or again[0] != seq:
            return  # it returned while we looked: no stall any more
        Handle, TimerHandle = self._engine.Handle, self._engine.TimerHandle
        what = _common.describe_callback(report, callback)
        text = "".join(stack.format()) if stack is not None else "  (not available)\n"
        aio = (isinstance(report, (Handle, asyncio.BaseTransport))
               or (isinstance(report, TimerHandle) and report._asyncio_api))
        self.__dict__["_observe_stalls"] = self.__dict__.get("_observe_stalls", 0) + 1
        (_asyncio_logger if aio else logger).warning(
            "The event loop is blocked: %s has been running for %.3f seconds "
            "(blocking threshold %.3f seconds); the loop's thread is at "
            "(most recent call last):\n%s", what, elapsed, threshold, text.rstrip("\n"))

    # -- introspection

    def registered_fds(self) -> list[FdInfo]:
        """Returns the file descriptors the loop watches, by fd number (a
        list of `FdInfo`): what ``add_handler``, ``add_reader``,
        ``add_writer`` and transports registered, with reprs of their
        handlers. A snapshot, for finding a leaked handler; any thread."""
        out = []
        for fd, events, kind, obj, reader, reader_cb, writer, writer_cb in self._fd_snapshot():
            handler = None
            if kind == "handler":
                handler = _safe_repr(reader_cb)
            elif kind == "transport":
                handler = _safe_repr(obj)
                obj = None
            else:
                kind = "reader/writer"
                tr = _transport_of(reader_cb) or _transport_of(writer_cb)
                if tr is not None:
                    # A Python transport's own reader/writer: name the transport.
                    kind, handler, reader, writer = "transport", _safe_repr(tr), None, None
            out.append(FdInfo(fd=fd, events=events, kind=kind, obj=_safe_repr(obj),
                              handler=handler, reader=_safe_repr(reader),
                              writer=_safe_repr(writer)))
        return out

    def pending_timers(self) -> list[TimerInfo]:
        """Returns the timers still to run, earliest first (a list of
        `TimerInfo`: deadline on the ``time()`` scale and a description of
        the callback); cancelled timers are left out. A snapshot, for finding
        a forgotten timer; any thread."""
        return [TimerInfo(when=when, callback=_common.describe_callback(handle, callback))
                for when, _seq, handle, callback in self._timer_snapshot()]

    # -- embedding in another main loop

    def poll_timeout(self) -> float | None:
        """Returns how long an embedding main loop may sleep before calling
        `run_once` again: 0.0 if callbacks are ready, else the seconds until
        the next timer, or None if only I/O can wake the loop (wait on
        ``fileno()``). Call it from the loop's thread."""
        return self._next_timeout()

    def run_once(self, timeout: float | None = 0) -> None:
        """Runs exactly one iteration of the loop, then returns.

        For driving the loop from another main loop: wait until
        ``fileno()`` is readable or `poll_timeout` seconds have passed, then
        call ``run_once()``. The iteration polls for I/O, waiting at most
        ``timeout`` seconds (0 by default: do not block; None: as long as
        the loop would, until I/O or the next timer), runs the ready I/O
        handlers, the callbacks that were ready and the due timers. While it
        runs the loop is current and asyncio's running loop, so tasks,
        futures and sockets work as under ``start()``. Between iterations a
        thread that posts a callback (``add_callback``,
        ``call_soon_threadsafe``) makes ``fileno()`` readable.

        Raises `TypeError`/`ValueError` for a ``timeout`` that is not a
        number >= 0 or None, and `RuntimeError` if the loop is closed or
        running, or another event loop runs in this thread.
        """
        if timeout is not None:
            timeout = _common.to_seconds(timeout, "timeout")
            if timeout < 0:
                raise ValueError(f"timeout must be >= 0 or None, not {timeout!r}")
        self._check_runnable()
        state = self._enter_running()
        try:
            self._run_one(timeout)
        finally:
            self._exit_running(state)


def _transport_of(callback: object) -> asyncio.BaseTransport | None:
    # A reader/writer registered by one of the loop's Python transports.
    owner = getattr(callback, "__self__", None)
    return owner if isinstance(owner, asyncio.BaseTransport) else None

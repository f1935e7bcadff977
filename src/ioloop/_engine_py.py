"""Pure-Python twin of the Cython engine (``_core.pyx``).

Same contract, same iteration order, built on ``select.epoll``, ``heapq``
and ``collections.deque``. Used when the extension is not built or when
``IOLOOP_NO_EXTENSIONS=1``. Read ``_core.pyx`` for the reasoning behind each
rule; comments here only note where the twin has to do things differently.

Type checkers see this module for both engines (``ioloop._loop`` imports it
under ``TYPE_CHECKING``); ``_core.pyi``, the stub of the compiled engine,
says the same, and the public methods carry the same docstrings in all three
(tests/test_docstrings.py compares them).
"""

from __future__ import annotations

import collections
import contextvars
import datetime
import errno
import heapq
import logging
import math
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike, HasFileno
    from typing_extensions import ParamSpec, TypeVarTuple, Unpack

    _P = ParamSpec("_P")
    _Ts = TypeVarTuple("_Ts")
    # What add_handler was given: the handler is called with that same object.
    _FD = TypeVar("_FD", bound="int | HasFileno")

_logger = logging.getLogger("ioloop")

_ERROR_MASK = 0x018
_STALE_CHECK_EVERY = 64
_MAX_POLL_SECONDS = 86400.0
_COMPACT_MIN_CANCELLED = 64
_POLL_SKIP_SECONDS = 0.00025
_READ_LIKE = select.EPOLLIN | select.EPOLLPRI | select.EPOLLERR | select.EPOLLHUP | select.EPOLLRDHUP
_WRITE_LIKE = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP

_fork_epoch = 0
# Loop-lag histogram buckets (see _core.pxd's LAG_BUCKETS).
_LAG_BUCKETS = 24


def _lag_bucket(lag: float) -> int:
    # The bit length of the lag in whole microseconds, capped (_core.pyx's
    # ioloop_lag_bucket): a timer at -inf is as late as can be.
    if not lag > 0.0:
        return 0
    if lag >= 1e12:
        return _LAG_BUCKETS - 1
    return min(int(lag * 1e6).bit_length(), _LAG_BUCKETS - 1)


def _after_fork_in_child() -> None:
    global _fork_epoch
    _fork_epoch += 1


os.register_at_fork(after_in_child=_after_fork_in_child)

_monotonic: Callable[[], float] = __import__("time").monotonic


from ._common import (  # noqa: E402
    aio_fileno as _aio_fileno,
    check_callable as _check_callable,
    debug_keep_repr as _debug_keep_repr,
    debug_kept_repr as _debug_kept_repr,
    debug_new as _debug_new,
    event_mask as _event_mask,
    fileno as _fileno,
    describe_callback as _describe_callback,
    handle_repr as _handle_repr,
    source_traceback as _source_traceback,
    to_seconds as _to_seconds,
)
from . import _common  # noqa: E402
from ._transports import StreamCore as _StreamCore  # noqa: E402

_Callback = Callable[..., object]

# Handle._flags / TimerHandle._flags
_AIO = 1    # scheduled through asyncio's API (where an exception is reported)
_DEBUG = 2  # has an entry in _common.debug_info (made in debug mode)


def _fd_error(exc: OSError, fd: int) -> OSError:
    return _common.fd_error(exc.errno or 0, fd)


def _context_for(context: contextvars.Context | None) -> contextvars.Context:
    """The context a new handle runs in: ``context``, checked, or a copy of
    the current one."""
    if context is None:
        return contextvars.copy_context()
    if type(context) is not contextvars.Context:
        _common.check_context(context)
    return context


class Handle:
    """A callback scheduled with ``call_soon`` or ``call_soon_threadsafe``.

    Returned by those methods; not created directly. ``cancel()`` keeps the
    callback from running.
    """

    __slots__ = ("callback", "args", "kwargs", "context", "loop", "_cancelled", "_flags",
                 "__weakref__")

    # None once cancelled (the references are dropped at once).
    callback: _Callback | None
    args: tuple[object, ...] | None
    kwargs: dict[str, object] | None
    context: contextvars.Context
    loop: Loop
    _cancelled: bool
    _flags: int

    def __init__(self, loop: Loop, callback: _Callback, args: tuple[object, ...],
                 kwargs: dict[str, object] | None,
                 context: contextvars.Context | None, flags: int = 0) -> None:
        self.callback = callback
        self.args = args
        self.kwargs = kwargs or None
        self.context = _context_for(context)
        self.loop = loop
        self._cancelled = False
        self._flags = flags

    def cancel(self) -> None:
        """Keeps the callback from running, if it has not run yet.

        The handle drops its references to the callback and its arguments
        at once. Cancelling twice, or after the callback ran, is harmless.
        Call it from the loop's thread.
        """
        if not self._cancelled:
            self._cancelled = True
            if self._flags & _DEBUG:
                _debug_keep_repr(self)
            self.callback = self.args = self.kwargs = None

    def cancelled(self) -> bool:
        """Returns ``True`` once ``cancel()`` has been called."""
        return self._cancelled

    def get_context(self) -> contextvars.Context:
        """Returns the ``contextvars.Context`` the callback runs in."""
        return self.context

    @property
    def _source_traceback(self) -> Any:
        return _source_traceback(self) if self._flags & _DEBUG else None

    def __repr__(self) -> str:
        if self._flags & _DEBUG:
            kept = _debug_kept_repr(self)
            if kept is not None:
                return kept
        return _handle_repr(self, "Handle", self._cancelled, self.callback, self.args, None)


class TimerHandle:
    """A timer scheduled with ``call_later``, ``call_at`` or ``add_timeout``.

    Returned by those methods; not created directly. Pass it to
    ``remove_timeout`` (or call its ``cancel()``) to cancel the timer.
    """

    __slots__ = ("callback", "args", "kwargs", "context", "loop", "_cancelled",
                 "in_heap", "_when", "seq", "_flags", "__weakref__")

    # Set by Loop._schedule; None once cancelled.
    callback: _Callback | None
    args: tuple[object, ...] | None
    kwargs: dict[str, object] | None
    context: contextvars.Context
    loop: Loop | None
    _cancelled: bool
    in_heap: bool
    _when: float
    seq: int
    _flags: int

    def cancel(self) -> None:
        """Keeps the callback from running, if it has not run yet.

        The same as ``loop.remove_timeout(timer)``. The timer drops its
        references to the callback and its arguments at once. Cancelling
        twice, or after the callback ran, is harmless. Call it from the
        loop's thread.
        """
        if not self._cancelled:
            self._cancelled = True
            if self._flags & _DEBUG:
                _debug_keep_repr(self)
            self.callback = self.args = self.kwargs = None
            if self.in_heap and self.loop is not None:
                self.loop._timer_cancelled()

    def cancelled(self) -> bool:
        """Returns ``True`` once the timer has been cancelled (by ``cancel()``
        or ``remove_timeout``)."""
        return self._cancelled

    def when(self) -> float:
        """Returns the time the timer is due, in seconds on the loop's
        ``time()`` scale."""
        return self._when

    def get_context(self) -> contextvars.Context:
        """Returns the ``contextvars.Context`` the callback runs in."""
        return self.context

    # Ordered by deadline, then scheduling order (FIFO on ties): heapq's
    # order, and the compiled engine's.
    def __lt__(self, other: object) -> bool:
        try:
            return (self._when, self.seq) < (other._when, other.seq)  # type: ignore[attr-defined]
        except AttributeError:
            return NotImplemented

    def __le__(self, other: object) -> bool:
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return (self._when, self.seq) <= (other._when, other.seq)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return (self._when, self.seq) > (other._when, other.seq)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return (self._when, self.seq) >= (other._when, other.seq)

    @property
    def _source_traceback(self) -> Any:
        return _source_traceback(self) if self._flags & _DEBUG else None

    @property
    def _asyncio_api(self) -> bool:
        return bool(self._flags & _AIO)

    def __repr__(self) -> str:
        if self._flags & _DEBUG:
            kept = _debug_kept_repr(self)
            if kept is not None:
                return kept
        return _handle_repr(self, "TimerHandle", self._cancelled, self.callback, self.args,
                            self._when)


class _FdEntry:
    __slots__ = ("kind", "events", "obj", "reader", "writer", "dev", "ino",
                 "streak", "last_iter", "changed_batch")

    def __init__(self, kind: int, events: int, obj: object, reader: Handle | None,
                 writer: Handle | None, dev: int, ino: int, batch: int) -> None:
        self.kind = kind
        self.events = events
        self.obj = obj
        self.reader = reader
        self.writer = writer
        self.dev = dev
        self.ino = ino
        self.streak = 0
        self.last_iter = 0
        self.changed_batch = batch


_CLASSIC = 1
_ASYNCIO = 2


if TYPE_CHECKING:
    class _TypedAttributes:
        # asyncio's float attribute, as type checkers see it; at run time a
        # property that checks what it is given. (Declared here, not in
        # Loop's body: an annotation there would give the class an
        # __annotations__ entry, which help() shows.)
        slow_callback_duration: float
else:
    _TypedAttributes = object


class Loop(_TypedAttributes):
    """The engine (pure Python). ``ioloop.IOLoop`` adds the facade."""

    # The hot paths of this engine's stream transports (see _transports.py).
    _stream_core = _StreamCore

    # (No class-level annotations: any, even one never executed, gives the
    # class an __annotations__ that help(IOLoop) would list.)

    if TYPE_CHECKING:
        # Provided by the facade (ioloop.IOLoop): the engine's calls into it
        # that it does not define, declared with their contracts in
        # _common.FacadeHooks (with the three it defines a default for).
        _report_exception = _common.FacadeHooks._report_exception
        _check_slow = _common.FacadeHooks._check_slow
        _handle_callback_result = _common.FacadeHooks._handle_callback_result

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._closed = False
        self._py_owned_fds: int = 0  # live transports (see add_reader)
        self._running = False
        self._stopping = False
        self._polling = False
        self._stale_logged = False
        self._rebuild_needed = False
        self._debug_enabled = False
        self._current_handle: Handle | TimerHandle | None = None
        self._slow_callback_duration: float = 0.1
        self._fork_epoch = _fork_epoch
        self._iteration = 0
        self._batch = 0
        self._last_poll = 0.0
        # Virtual time (ioloop.testing): see _core.pxd.
        self._clock_offset = 0.0
        self._autojump_ms = -1
        self._autojump_threshold = -1.0
        self._fds: dict[int, _FdEntry] = {}
        self._changed: dict[int, int] = {}  # fd -> batch of its last removal
        # Undispatched events.
        self._pending: collections.deque[tuple[int, int]] = collections.deque()
        self._heap: list[TimerHandle] = []
        self._heap_cancelled = 0
        self._timer_seq = 0
        self._due: collections.deque[TimerHandle] = collections.deque()
        self._ready: collections.deque[Handle] = collections.deque()
        # Stream transports whose writes were queued in this iteration:
        # flushed at its end (_flush_writes).
        self._write_queue: list[Any] = []
        # Thread-safe posting (add_callback) and close() must not interleave
        # in Python code: the engine in C is atomic under the GIL instead.
        # Reentrant: a signal handler or a __del__ may post while we post
        # (a plain lock deadlocked Tornado 4.4 that way).
        self._post_lock = threading.RLock()
        self._epoll = select.epoll()
        self._open_wakers()
        # Observability (see _core.pxd's LoopStats): counters written by the
        # loop's thread only; what runs now published as one tuple
        # (sequence, report, callback, start) so another thread reads it
        # whole; run_once()'s poll cap.
        self._st_runs = 0
        self._st_callbacks = 0
        self._st_io = 0
        self._st_timers = 0
        self._st_timers_cancelled = 0
        self._st_longest = 0.0
        self._st_longest_repr: str | None = None
        self._st_run_start = 0.0  # when the current run began, 0.0 if not running
        self._st_run_total = 0.0  # seconds of the runs that ended
        self._st_poll_start = 0.0  # when a blocking poll began, 0.0 outside one
        self._st_idle = 0.0
        self._st_lag = [0] * _LAG_BUCKETS
        self._st_cur: tuple[int, object, object, float] | None = None
        self._poll_cap: float | None = None
        self._wd_gen = 0  # bumped to stop a waiting watchdog

    def _open_wakers(self) -> None:
        # Created with the loop, before any user fd: a stale registration of
        # a user fd can then never share a number with them.
        self._waker_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._sig_rfd, self._sig_wfd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._epoll.register(self._waker_fd, select.EPOLLIN)
        self._epoll.register(self._sig_rfd, select.EPOLLIN)

    # -- helpers -------------------------------------------------------------

    def _check_fork(self) -> None:
        if self._fork_epoch != _fork_epoch:
            raise RuntimeError(
                "this IOLoop was created in the parent process; call "
                "reinit_after_fork() before using it after fork()")

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("IOLoop is closed")
        self._check_fork()

    def _wake(self) -> None:
        self._polling = False
        try:
            os.eventfd_write(self._waker_fd, 1)
        except OSError:
            pass

    def time(self) -> float:
        """Returns the loop's current time, in seconds (a float).

        The clock is ``CLOCK_MONOTONIC``, the scale of ``time.monotonic()``: it
        never goes backwards and ignores changes to the system clock, but its
        zero is arbitrary. ``call_at`` and ``add_timeout`` take deadlines on
        this scale.
        """
        return _monotonic() + self._clock_offset

    # Virtual time, for ioloop.testing (see VirtualClockIOLoop there).

    def _advance_clock(self, seconds: float) -> None:
        """Moves the loop's clock forward by ``seconds`` (virtual time)."""
        self._clock_offset += _common.clock_seconds(seconds, "seconds")
        if self._polling:
            self._wake()

    def _set_autojump_threshold(self, threshold: float | None) -> None:
        """None: autojump off; else a poll that would sleep until the next
        timer waits at most ``threshold`` seconds for I/O, then moves the
        clock to that timer."""
        if threshold is None:
            self._autojump_ms = -1
            self._autojump_threshold = -1.0
        else:
            t = _common.clock_seconds(threshold, "autojump_threshold")
            # epoll's rounding: up to whole milliseconds.
            self._autojump_ms = (int(_MAX_POLL_SECONDS * 1000) if t >= _MAX_POLL_SECONDS
                                 else math.ceil(t * 1000.0))
            self._autojump_threshold = t
        if self._polling:
            self._wake()

    def _get_autojump_threshold(self) -> float | None:
        """The autojump threshold in seconds, or None when autojump is off."""
        return None if self._autojump_ms < 0 else self._autojump_threshold

    if not TYPE_CHECKING:  # type checkers see _TypedAttributes' float
        @property
        def slow_callback_duration(self) -> float:
            """Seconds a callback may run before debug mode warns that it was slow
            (asyncio's attribute; 0.1 by default). A finite number >= 0: anything else
            raises ``TypeError`` or ``ValueError``."""
            return self._slow_callback_duration

        @slow_callback_duration.setter
        def slow_callback_duration(self, value: float) -> None:
            self._slow_callback_duration = _common.clock_seconds(value, "slow_callback_duration")

    def get_debug(self) -> bool:
        """Returns ``True`` if debug mode is on (see ``set_debug``)."""
        return self._debug_enabled

    def set_debug(self, enabled: bool) -> None:
        """Turns asyncio's debug mode on or off: the engine's half
        (``ioloop.IOLoop.set_debug`` documents the whole)."""
        self._debug_enabled = bool(enabled)

    def fileno(self) -> int:
        """Returns the fd of the loop's epoll set (-1 once the loop is closed).

        To drive the loop from another main loop, wait for this fd to be
        readable (it is when I/O the loop watches is ready, or when another
        thread posted a callback between two ``run_once()`` calls), or for
        ``poll_timeout()`` seconds, then call ``run_once()``. Do not close it,
        read it or change its registrations.
        """
        return self._epoll.fileno() if not self._epoll.closed else -1

    def is_running(self) -> bool:
        """Returns ``True`` while the loop runs (in ``start()``, ``run_forever()``,
        ``run_until_complete()`` or ``run_sync()``)."""
        return self._running

    def is_closed(self) -> bool:
        """Returns ``True`` once ``close()`` has been called."""
        return self._closed

    # -- callbacks -------------------------------------------------------------

    def _post(self, handle: Handle) -> bool:
        with self._post_lock:
            if self._closed:
                return False
            self._ready.append(handle)
            # The loop sets _polling before it looks at the queue, so either
            # it sees this handle or we see it sleeping and wake it.
            if self._polling:
                self._wake()
        return True

    def add_callback(self, callback: Callable[_P, object], *args: _P.args,
                     **kwargs: _P.kwargs) -> None:
        """Calls ``callback(*args, **kwargs)`` on the next iteration of the loop.

        This is the one method (with ``call_soon_threadsafe``, its asyncio
        form) that is safe to call from any thread, and from a signal handler:
        use it to hand work over to the loop's thread. It wakes the loop up if
        it is waiting for I/O. Callbacks run in the order they were added, each
        in a copy of the ``contextvars`` context it was added from.

        An exception raised by the callback goes to
        ``handle_callback_exception`` and the loop carries on. If the callback
        returns an awaitable, the loop runs it to completion as a task.

        Returns ``None``: the call cannot be cancelled (``call_soon`` returns a
        ``Handle`` that can). After ``close()`` the call is silently dropped.
        Raises ``TypeError`` if ``callback`` is not callable.
        """
        _check_callable(callback, "callback")
        if self._closed:
            return None
        self._check_fork()
        self._post(Handle(self, callback, args, kwargs, None))
        return None

    def call_soon(self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts],
                  context: contextvars.Context | None = None) -> Handle:
        """Schedules ``callback(*args)`` for the next iteration.

        The asyncio form of ``add_callback``, sharing its queue: callbacks run
        in the order they were scheduled. Returns a ``Handle``, whose
        ``cancel()`` keeps the callback from running. ``context`` is the
        ``contextvars.Context`` to run it in (default: a copy of the current
        one). Call it from the loop's thread; from another thread, use
        ``call_soon_threadsafe``.

        Raises ``TypeError`` if ``callback`` is not callable and
        ``RuntimeError`` if the loop is closed.
        """
        if self._debug_enabled:
            self._check_thread()
        return self._call_soon(callback, args, context, 2)

    def _call_soon(self, callback: _Callback, args: tuple[object, ...],
                   context: contextvars.Context | None, depth: int) -> Handle:
        # depth: frames from here up to the caller of the public method.
        _check_callable(callback, "callback")
        self._check_open()
        h = Handle(self, callback, args, None, context, _AIO)
        if self._debug_enabled:
            _debug_new(h, sys._getframe(depth))
            h._flags |= _DEBUG
        if not self._post(h):
            raise RuntimeError("IOLoop is closed")
        return h

    def call_soon_threadsafe(self, callback: Callable[[Unpack[_Ts]], object],
                             *args: Unpack[_Ts],
                             context: contextvars.Context | None = None) -> Handle:
        """Like ``call_soon``, but safe to call from any thread.

        It wakes the loop up if it is waiting for I/O. Returns a ``Handle``.
        Raises ``TypeError`` if ``callback`` is not callable and
        ``RuntimeError`` if the loop is closed.
        """
        return self._call_soon(callback, args, context, 2)

    # -- timers ----------------------------------------------------------------

    def _schedule(self, when: float, callback: _Callback, args: tuple[object, ...],
                  kwargs: dict[str, object] | None,
                  context: contextvars.Context | None, aio: int) -> TimerHandle:
        # aio: 0 for add_timeout; else call_later/call_at (asyncio's API),
        # and the number of frames debug mode records (see _core.pyx).
        _check_callable(callback, "callback")
        self._check_open()
        h = TimerHandle()
        h._flags = 0
        if aio:
            h._flags = _AIO
            if self._debug_enabled:
                # Frames: _schedule, call_later/call_at, their caller.
                _debug_new(h, sys._getframe(2), aio)
                h._flags |= _DEBUG
        h.callback = callback
        h.args = args
        h.kwargs = kwargs or None
        h.context = _context_for(context)
        h.loop = self
        h._cancelled = False
        h._when = when
        h.seq = self._timer_seq
        self._timer_seq += 1
        h.in_heap = True
        heapq.heappush(self._heap, h)
        if self._polling:
            self._wake()
        return h

    # call_at and call_later take asyncio's calls (a context keyword) and
    # Tornado's (keyword arguments for the callback): one overload each.
    @overload
    def call_at(self, when: float, callback: Callable[[Unpack[_Ts]], object],
                *args: Unpack[_Ts], context: contextvars.Context | None = None) -> TimerHandle: ...
    @overload
    def call_at(self, when: float, callback: Callable[_P, object],
                *args: _P.args, **kwargs: _P.kwargs) -> TimerHandle: ...

    def call_at(self, when: float, callback: _Callback,
                *args: object, **kwargs: object) -> TimerHandle:
        """Calls ``callback(*args, **kwargs)`` at time ``when``.

        ``when`` is an absolute time in seconds on the scale of ``time()``. The
        callback never runs early; timers due at the same time run in the order
        they were scheduled. As in asyncio, a keyword argument ``context`` is
        the ``contextvars.Context`` to run the callback in (default: a copy of
        the current one); the other keyword arguments go to the callback.

        Returns a ``TimerHandle``: cancel the timer with ``remove_timeout`` or
        its ``cancel()``. Call it from the loop's thread; from another thread,
        hand the call over with ``add_callback``.

        Raises ``TypeError`` if ``when`` is not a real number or ``callback`` is
        not callable, ``ValueError`` if ``when`` is NaN and ``RuntimeError`` if
        the loop is closed.
        """
        # The overloads type ``context``; here it is whatever was passed.
        context: Any = kwargs.pop("context", None) if kwargs else None
        if self._debug_enabled:
            self._check_thread()
        return self._schedule(_to_seconds(when, "when"), callback, args, kwargs, context,
                              _common.STACK_DEPTH)

    @overload
    def call_later(self, delay: float, callback: Callable[[Unpack[_Ts]], object],
                   *args: Unpack[_Ts], context: contextvars.Context | None = None) -> TimerHandle: ...
    @overload
    def call_later(self, delay: float, callback: Callable[_P, object],
                   *args: _P.args, **kwargs: _P.kwargs) -> TimerHandle: ...

    def call_later(self, delay: float, callback: _Callback,
                   *args: object, **kwargs: object) -> TimerHandle:
        """Calls ``callback(*args, **kwargs)`` after ``delay`` seconds.

        ``delay`` is in seconds, an int or a float (``PeriodicCallback`` is the
        one that counts in milliseconds). The callback never runs early; with a
        ``delay`` of zero or less it is due at once. Keyword arguments are
        handled as by ``call_at``: ``context`` is asyncio's, the others go to
        the callback.

        Returns a ``TimerHandle``: cancel the timer with ``remove_timeout`` or
        its ``cancel()``. Call it from the loop's thread; from another thread,
        hand the call over with ``add_callback``.

        Raises ``TypeError`` if ``delay`` is not a real number or ``callback``
        is not callable, ``ValueError`` if ``delay`` is NaN and ``RuntimeError``
        if the loop is closed.
        """
        context: Any = kwargs.pop("context", None) if kwargs else None
        if self._debug_enabled:
            self._check_thread()
        return self._schedule(_monotonic() + self._clock_offset + _to_seconds(delay, "delay"),
                              callback, args, kwargs, context, _common.STACK_DEPTH_CALL_LATER)

    def add_timeout(self, deadline: float | datetime.timedelta, callback: Callable[_P, object],
                    *args: _P.args, **kwargs: _P.kwargs) -> TimerHandle:
        """Calls ``callback(*args, **kwargs)`` at ``deadline``.

        ``deadline`` is either a number, an absolute time in seconds on the
        scale of ``time()`` (``loop.time() + 5`` is five seconds from now), or
        a ``datetime.timedelta``, relative to now. The callback never runs
        early. Unlike ``call_at`` and ``call_later``, every keyword argument,
        ``context`` included, goes to the callback.

        Returns a ``TimerHandle``: cancel the timer with ``remove_timeout`` or
        its ``cancel()``. Call it from the loop's thread; from another thread,
        hand the call over with ``add_callback``.

        Raises ``TypeError`` if ``deadline`` is neither a real number nor a
        ``timedelta`` or ``callback`` is not callable, ``ValueError`` if
        ``deadline`` is NaN and ``RuntimeError`` if the loop is closed.
        """
        return self._schedule(_common.deadline_to_when(deadline, _monotonic() + self._clock_offset),
                              callback, args, kwargs, None, 0)

    def remove_timeout(self, timeout: object) -> None:
        """Cancels a timer.

        ``timeout`` is a ``TimerHandle`` returned by ``add_timeout``,
        ``call_later`` or ``call_at``. Safe to call after the timer has run or
        been cancelled; any other object, a timer of another loop included, is
        ignored. Call it from the loop's thread.
        """
        if isinstance(timeout, TimerHandle) and timeout.loop is self:
            timeout.cancel()

    def _timer_cancelled(self) -> None:
        self._st_timers_cancelled += 1
        self._heap_cancelled += 1
        if (self._heap_cancelled > _COMPACT_MIN_CANCELLED
                and self._heap_cancelled * 2 > len(self._heap)):
            dead = [h for h in self._heap if h._cancelled]
            for h in dead:
                h.in_heap = False
            self._heap = [h for h in self._heap if not h._cancelled]
            heapq.heapify(self._heap)
            self._heap_cancelled = 0

    def _timer_count(self) -> int:
        return len(self._heap)

    def _collect_due(self) -> None:
        heap = self._heap
        if not heap:
            return
        now = _monotonic() + self._clock_offset
        while heap and heap[0]._when <= now:
            h = heapq.heappop(heap)
            h.in_heap = False
            if h._cancelled:
                self._heap_cancelled -= 1
                continue
            self._due.append(h)

    # -- running ---------------------------------------------------------------

    # report: the Handle/TimerHandle for asyncio's API, the callback for the
    # classic API (see _core.pyx).
    def _run_callback(self, callback: _Callback | None, args: tuple[object, ...] | None,
                      kwargs: dict[str, object] | None, context: contextvars.Context,
                      report: object) -> None:
        self._cb_enter(report, callback)
        try:
            if self._debug_enabled:
                self._run_callback_debug(callback, args, kwargs, context, report)
            else:
                self._invoke(callback, args, kwargs, context, report)
        finally:
            self._cb_exit(callback)

    def _invoke(self, callback: _Callback | None, args: tuple[object, ...] | None,
                kwargs: dict[str, object] | None, context: contextvars.Context,
                report: object) -> None:
        # Runs one callback in its context; an exception is reported, except
        # KeyboardInterrupt and SystemExit, which propagate.
        try:
            context.run(self._call, callback, args, kwargs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            self._report_exception(report, callback, args)

    def _run_callback_debug(self, callback: _Callback | None, args: tuple[object, ...] | None,
                            kwargs: dict[str, object] | None, context: contextvars.Context,
                            report: object) -> None:
        if isinstance(report, Handle) or (isinstance(report, TimerHandle)
                                          and report._flags & _AIO):
            self._current_handle = report
        try:
            t0 = _monotonic()
            self._invoke(callback, args, kwargs, context, report)
            self._check_slow(report, callback, args, t0)
        finally:
            self._current_handle = None

    def _call(self, callback: _Callback | None, args: tuple[object, ...] | None,
              kwargs: dict[str, object] | None) -> None:
        # Never called for a cancelled handle, the only kind whose callback
        # and args are None.
        result = (callback(*args) if kwargs is None  # type: ignore[misc]
                  else callback(*args, **kwargs))  # type: ignore[misc]
        if result is not None:
            # Still in the callback's context: a task made from a returned
            # awaitable inherits it (as on Tornado 6).
            self._handle_callback_result(result)

    def stop(self) -> None:
        """Stops the loop after the current iteration.

        ``start()`` (or ``run_forever()``) returns once the callbacks, handlers
        and timers of this iteration have run; what is scheduled for later
        stays scheduled, and runs if the loop is started again. Called while
        the loop is not running, it makes the next ``start()`` return after one
        iteration. To stop the loop from another thread, use
        ``loop.add_callback(loop.stop)``.
        """
        self._stopping = True
        if self._polling:
            self._wake()

    def _run(self) -> None:
        self._check_open()
        if self._running:
            raise RuntimeError("This event loop is already running")
        self._running = True
        self._st_run_start = _monotonic()
        try:
            if self._write_queue:
                # Written to while the loop was not running.
                self._flush_writes()
            while True:
                polled = self._run_once()
                if self._stopping:
                    if not polled:
                        self._poll_before_stop()
                    break
        finally:
            self._stopping = False
            self._running = False
            self._account_end()

    def _poll_before_stop(self) -> None:
        # The last iteration skipped its poll (callbacks were ready and the
        # previous poll was recent), so stop() would return without looking
        # at I/O that is already ready -- asyncio polls in every iteration,
        # the last one included, and code that pumps the loop with
        # run_until_complete() relies on it. Poll once (timeout 0: we are
        # stopping) and run the ready I/O handlers; the callbacks they
        # schedule wait for the next run, as after any asyncio iteration.
        self._poll()
        self._dispatch()
        if self._rebuild_needed:
            self._rebuild_epoll()
        if self._write_queue:
            self._flush_writes()

    def _poll_timeout(self) -> float:
        if self._ready or self._stopping or self._due:
            return 0
        heap = self._heap
        while heap and heap[0]._cancelled:
            heapq.heappop(heap).in_heap = False
            self._heap_cancelled -= 1
        if not heap:
            return -1
        delta = heap[0]._when - (_monotonic() + self._clock_offset)
        if delta <= 0:
            return 0
        # epoll.poll() rounds up to whole milliseconds itself.
        return min(delta, _MAX_POLL_SECONDS)

    def _run_once(self) -> bool:
        """One iteration; returns False if it skipped the poll."""
        self._iteration += 1
        polled = True
        if not self._pending:
            if ((self._ready or self._due) and not self._stopping
                    and _monotonic() - self._last_poll < _POLL_SKIP_SECONDS):
                polled = False  # see _core.pyx: skip the zero-timeout poll for a moment
            else:
                self._poll()
        self._dispatch()
        if self._rebuild_needed:
            self._rebuild_epoll()

        self._collect_due()

        ready = self._ready
        for _ in range(len(ready)):
            if not ready:
                break
            h = ready.popleft()
            if not h._cancelled:
                self._st_callbacks += 1
                try:
                    self._run_callback(h.callback, h.args, h.kwargs, h.context,
                                       h if h._flags & _AIO else h.callback)
                finally:
                    # Done with it: the handle drops its callback, as on the
                    # compiled engine (its repr says "done").
                    h.callback = h.args = h.kwargs = None

        due = self._due
        due_now = 0.0
        while due:
            t = due.popleft()
            if not t._cancelled:
                self._st_timers += 1
                if due_now == 0.0:
                    due_now = _monotonic() + self._clock_offset  # loop lag: how late the due timers start
                self._st_lag[_lag_bucket(due_now - t._when)] += 1
                try:
                    self._run_callback(t.callback, t.args, t.kwargs, t.context, t)
                finally:
                    t.callback = t.args = t.kwargs = None
        if self._write_queue:
            self._flush_writes()
        return polled

    # -- queued stream writes ----------------------------------------------------

    def _queue_write(self, tr: Any) -> None:
        """Flush ``tr`` at the end of this iteration: the loop calls
        ``tr._exec_write()`` after clearing ``tr._queued``."""
        self._write_queue.append(tr)

    def _flush_writes(self) -> None:
        """The end of an iteration: send what the queued transports
        buffered. Writes made meanwhile wait for the next flush."""
        q = self._write_queue
        self._write_queue = []
        i = 0
        try:
            while i < len(q):
                tr = q[i]
                i += 1
                tr._queued = False
                tr._exec_write()
        except BaseException:
            # KeyboardInterrupt or SystemExit: the rest stays queued.
            self._write_queue[0:0] = q[i:]
            raise

    def _poll(self) -> None:
        # Set _polling before looking at the queue (see _post).
        self._polling = True
        timeout = self._poll_timeout()
        jump = False
        cap = self._poll_cap
        if cap is not None and (timeout < 0 or timeout > cap):
            timeout = cap  # run_once(timeout)
        if timeout == 0:
            self._polling = False
        else:
            if 0 <= self._autojump_ms < math.ceil(timeout * 1000.0) and self._heap:
                # Autojump: wait for I/O at most the threshold, then move the
                # clock to the next timer instead of sleeping until it.
                timeout = self._autojump_threshold
                jump = True
            self._st_poll_start = _monotonic()  # idle time starts
        try:
            # select.epoll retries EINTR itself (PEP 475), running
            # Python signal handlers, with the remaining timeout.
            events = self._epoll.poll(timeout)
        finally:
            self._polling = False
        if jump and not events and self._heap:
            delta = self._heap[0]._when - (_monotonic() + self._clock_offset)
            if delta > 0:
                self._clock_offset += delta
        self._last_poll = _monotonic()
        if self._st_poll_start:
            self._st_idle += self._last_poll - self._st_poll_start
            self._st_poll_start = 0.0
        self._batch += 1
        self._pending.extend(events)

    def _dispatch(self) -> None:
        pending = self._pending
        while pending:
            fd, events = pending.popleft()
            self._dispatch_one(fd, events)

    def _dispatch_one(self, fd: int, events: int) -> None:
        if fd == self._waker_fd:
            try:
                os.eventfd_read(fd)
            except OSError:
                pass
            return
        if fd == self._sig_rfd:
            got = bytearray()
            try:
                while True:
                    chunk = os.read(fd, 256)
                    if not chunk:
                        break
                    got += chunk
            except OSError:
                pass
            if got:
                self._process_signals(bytes(got))
            return
        e = self._fds.get(fd)
        if e is None:
            if self._changed.get(fd) != self._batch:
                self._rebuild_needed = True
            return
        if e.changed_batch == self._batch and e.last_iter == -1:
            # Registered after this batch was polled: the event is for the
            # previous registration of this number.
            return
        if e.last_iter + 1 == self._batch:
            e.streak += 1
        else:
            e.streak = 1
        e.last_iter = self._batch
        if e.streak % _STALE_CHECK_EVERY == 0 and not self._fd_matches(fd, e):
            self._drop_stale(fd)
            return
        if e.kind == _CLASSIC:
            h: Handle = e.reader  # type: ignore[assignment]  # a classic entry's handler
            t0 = _monotonic() if self._debug_enabled else 0.0
            cb = h.callback
            self._st_io += 1
            self._cb_enter(cb, cb)
            try:
                try:
                    h.context.run(self._call, cb, (e.obj, events), None)
                except BrokenPipeError:
                    return
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:
                    self._report_exception(cb, cb, None)
                    if (isinstance(exc, OSError) and exc.errno == errno.EBADF
                            and self._fds.get(fd) is e and not self._fd_matches(fd, e)):
                        self._drop_stale(fd)
                    return
            finally:
                self._cb_exit(cb)
            if self._debug_enabled:
                self._check_slow(h.callback, h.callback, None, t0)
            return
        if events & _READ_LIKE and e.reader is not None:
            h = e.reader
            if not h._cancelled:
                self._st_io += 1
                self._run_callback(h.callback, h.args, None, h.context, h)
            if self._fds.get(fd) is not e:
                return
        if events & _WRITE_LIKE and e.writer is not None:
            h = e.writer
            if not h._cancelled:
                self._st_io += 1
                self._run_callback(h.callback, h.args, None, h.context, h)

    # -- observability: what the facade's stats(), blocking-loop watchdog,
    # introspection and run_once() read (see _core.pyx) -------------------------

    def _cb_enter(self, report: object, callback: object) -> None:
        self._st_runs += 1
        self._st_cur = (self._st_runs, report, callback, _monotonic())

    def _cb_exit(self, callback: object) -> None:
        cur = self._st_cur
        if cur is not None:
            dt = _monotonic() - cur[3]
            if dt > self._st_longest:
                self._st_longest = dt
                self._st_longest_repr = _describe_callback(cur[1], callback)
        self._st_cur = None

    def _account_end(self) -> None:
        if self._st_run_start:
            self._st_run_total += _monotonic() - self._st_run_start
            self._st_run_start = 0.0
        self._st_poll_start = 0.0
        self._st_cur = None

    def _stats_raw(self) -> tuple[Any, ...]:
        total, idle = self._st_run_total, self._st_idle
        run_start, poll_start = self._st_run_start, self._st_poll_start
        if run_start:
            # Running: count the current run (and poll) so far.
            now = _monotonic()
            total += now - run_start
            if poll_start:
                idle += now - poll_start
        idle = min(idle, total)
        return (self._iteration, self._st_callbacks, self._st_io, self._st_timers,
                len(self._heap) - self._heap_cancelled, self._st_timers_cancelled,
                len(self._fds), len(self._ready), total - idle, idle,
                self._st_longest, self._st_longest_repr, tuple(self._st_lag))

    def _busy(self) -> tuple[int, object, object, float] | None:
        cur = self._st_cur
        if cur is None:
            return None
        return (cur[0], cur[1], cur[2], _monotonic() - cur[3])

    def _watch(self, threshold: float, max_wait: float, warned: int | None,
               gen: int) -> int | None:
        # The watchdog thread's wait (see _core.pyx); time.sleep releases the GIL.
        tick = min(max(threshold / 4, 0.001), 0.05)
        slept = 0.0
        while slept < max_wait and self._wd_gen == gen:
            time.sleep(tick)
            slept += tick
            cur = self._st_cur
            if cur is not None and cur[0] != warned and _monotonic() - cur[3] >= threshold:
                return cur[0]
        return None

    def _watch_stop(self) -> int:
        self._wd_gen += 1
        return self._wd_gen

    def _fd_snapshot(self) -> list[tuple[int, int, str, object, object, object, object, object]]:
        out: list[tuple[int, int, str, object, object, object, object, object]] = []
        for fd, e in sorted(self._fds.items()):
            r, w = e.reader, e.writer
            if e.kind == _CLASSIC:
                out.append((fd, e.events, "handler", e.obj, None,
                            r.callback if r is not None else None, None, None))
            else:
                out.append((fd, e.events, "asyncio", None, r, r.callback if r is not None else None,
                            w, w.callback if w is not None else None))
        return out

    def _timer_snapshot(self) -> list[tuple[float, int, TimerHandle, object]]:
        out: list[tuple[float, int, TimerHandle, object]] = [
            (h._when, h.seq, h, h.callback) for h in self._heap if not h._cancelled]
        out += [(h._when, h.seq, h, h.callback) for h in self._due if not h._cancelled]
        out.sort(key=lambda item: (item[0], item[1]))
        return out

    def _next_timeout(self) -> float | None:
        if self._ready or self._stopping or self._due or self._pending:
            return 0.0
        heap = self._heap
        while heap and heap[0]._cancelled:
            heapq.heappop(heap).in_heap = False
            self._heap_cancelled -= 1
        if self._ready or self._due:
            return 0.0  # a finalizer scheduled something
        if not heap:
            return None
        delta = heap[0]._when - (_monotonic() + self._clock_offset)
        return delta if delta > 0.0 else 0.0

    def _run_one(self, timeout: float | None) -> None:
        self._check_open()
        if self._running:
            raise RuntimeError("This event loop is already running")
        self._poll_cap = None if timeout is None else min(timeout, _MAX_POLL_SECONDS)
        self._running = True
        self._st_run_start = _monotonic()
        try:
            self._run_once()
        finally:
            self._poll_cap = None
            self._stopping = False
            self._running = False
            self._account_end()
            # Between iterations the loop "sleeps" in the embedding loop's
            # wait on fileno(): a post from another thread must wake it.
            self._polling = True

    # -- fd table --------------------------------------------------------------

    @staticmethod
    def _stat(fd: int) -> tuple[int, int]:
        try:
            st = os.fstat(fd)
        except OSError:
            return 0, 0
        return st.st_dev, st.st_ino

    def _fd_matches(self, fd: int, e: _FdEntry) -> bool:
        try:
            st = os.fstat(fd)
        except OSError:
            return False
        return st.st_dev == e.dev and st.st_ino == e.ino

    def _clear_entry(self, fd: int) -> None:
        self._fds.pop(fd, None)
        self._changed[fd] = self._batch

    def _register(self, fd: int, events: int, kind: int, obj: object,
                  reader: Handle | None, writer: Handle | None) -> None:
        if fd in (self._epoll.fileno(), self._waker_fd, self._sig_rfd, self._sig_wfd):
            self._refuse_own_fd(fd)
        old = self._fds.get(fd)
        try:
            self._epoll.register(fd, events)
        except FileExistsError:
            if old is not None:
                raise FileExistsError(
                    errno.EEXIST, f"fd {fd} is already registered with this IOLoop") from None
            try:
                self._epoll.modify(fd, events)
            except OSError as exc:
                raise _fd_error(exc, fd) from None
        except OSError as exc:
            raise _fd_error(exc, fd) from None
        dev, ino = self._stat(fd)
        entry = _FdEntry(kind, events, obj, reader, writer, dev, ino, self._batch)
        # Events of this batch predate the registration (see _dispatch_one).
        entry.last_iter = -1 if self._pending else 0
        self._fds[fd] = entry
        if old is not None:
            # Our entry was stale (fd closed and reused without
            # remove_handler). The twin cannot tag events with a generation,
            # so it drops any lingering kernel registration by rebuilding.
            self._rebuild_epoll(log=False)

    def _refuse_own_fd(self, fd: int) -> None:
        # Handing the loop's own fds to a handler would steal the loop's
        # wake-ups (and remove_handler would drop them for good).
        if fd == self._epoll.fileno():
            what = "its epoll fd"
        elif fd == self._waker_fd:
            what = "its wake-up eventfd"
        else:
            what = "its signal wake-up pipe"
        raise ValueError(f"fd {fd} belongs to the IOLoop ({what}); it cannot be watched")

    def _drop_stale(self, fd: int) -> None:
        if not self._stale_logged:
            self._stale_logged = True
            _logger.warning(
                "fd %d was closed without remove_handler() while a duplicate "
                "kept it open; dropping its handler and rebuilding the epoll set", fd)
        self._clear_entry(fd)
        self._rebuild_needed = True

    def _rebuild_epoll(self, log: bool = True) -> None:
        self._rebuild_needed = False
        if self._epoll.closed:
            return
        if log and not self._stale_logged:
            self._stale_logged = True
            _logger.warning("stale epoll registration (an fd closed without "
                            "remove_handler?); rebuilding the epoll set")
        old_fd = self._epoll.fileno()
        new = select.epoll()
        # Keep the epoll fd number stable for fileno() users.
        os.dup2(new.fileno(), old_fd, inheritable=False)
        new.close()
        self._epoll.register(self._waker_fd, select.EPOLLIN)
        if self._sig_rfd >= 0:
            self._epoll.register(self._sig_rfd, select.EPOLLIN)
        for fd, e in list(self._fds.items()):
            if not self._fd_matches(fd, e):
                self._clear_entry(fd)
                continue
            try:
                self._epoll.register(fd, e.events)
            except OSError:
                self._clear_entry(fd)
        self._pending.clear()

    def add_handler(self, fd: _FD, handler: Callable[[_FD, int], object], events: int) -> None:
        """Calls ``handler(fd, events)`` whenever ``fd`` is ready for ``events``.

        ``fd`` is an int file descriptor or an object with a ``fileno()``
        method, such as a socket; the handler gets it back exactly as passed.
        ``events`` is a mask of ``IOLoop.READ``, ``IOLoop.WRITE`` and the other
        ``IOLoop`` constants (Linux epoll bits); ``IOLoop.ERROR`` is always
        watched. The handler receives the mask of the events that occurred, on
        every iteration while they last (level-triggered, unless ``IOLoop.EDGE``
        is in the mask). An exception it raises goes to
        ``handle_callback_exception`` (a ``BrokenPipeError`` is ignored: the
        peer went away) and the loop carries on.

        One registration per fd: change its mask with ``update_handler``, and
        call ``remove_handler`` before closing the fd. Call it from the loop's
        thread.

        Raises ``TypeError`` if ``handler`` is not callable, ``events`` is not
        an int or ``fd`` is neither an int nor an object with ``fileno()``;
        ``ValueError`` if ``fd`` is negative, closed or one of the loop's own
        fds, or ``events`` is out of range; ``FileExistsError`` if ``fd`` is already registered with this
        loop; ``PermissionError`` if epoll cannot watch it (a regular file);
        ``RuntimeError`` if the loop is closed.
        """
        _check_callable(handler, "handler")
        mask = _event_mask(events) | _ERROR_MASK
        self._check_open()
        n = _fileno(fd)
        if n < 0:
            raise ValueError(f"fd {fd!r} is closed (fileno() returned -1)")
        h = Handle(self, handler, (), None, None)
        self._register(n, mask, _CLASSIC, fd, h, None)

    def update_handler(self, fd: FileDescriptorLike, events: int) -> None:
        """Changes the events ``fd`` is watched for to ``events``.

        ``fd`` is the int or object given to ``add_handler``; ``IOLoop.ERROR``
        is always watched. Call it from the loop's thread.

        Raises ``ValueError`` if ``fd`` is not registered with ``add_handler``
        (or was closed without ``remove_handler``) or ``events`` is out of
        range, ``TypeError`` if ``events`` is not an int and ``RuntimeError`` if
        the loop is closed.
        """
        mask = _event_mask(events) | _ERROR_MASK
        self._check_open()
        n = self._lookup(fd)
        e = self._fds.get(n)
        if e is None or e.kind != _CLASSIC:
            raise ValueError(f"fd {fd!r} is not registered with add_handler()")
        try:
            self._epoll.modify(n, mask)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EBADF):
                self._clear_entry(n)
                raise ValueError(f"fd {fd!r} is not registered: it was closed "
                                 f"without remove_handler()") from None
            raise _fd_error(exc, n) from None
        e.events = mask

    def _lookup(self, fd: object) -> int:
        try:
            n = _fileno(fd)
        except (TypeError, ValueError, OSError):
            n = -1
        if n < 0 and not isinstance(fd, int):
            for i, e in self._fds.items():
                if e.kind == _CLASSIC and e.obj is fd:
                    return i
        return n

    def remove_handler(self, fd: FileDescriptorLike) -> None:
        """Stops watching ``fd``, the int or object given to ``add_handler``.

        It takes effect at once: the handler is not called again, not even for
        events already polled in this iteration, and ``fd`` may be closed right
        after. A socket closed before this call is still found. Does nothing if
        ``fd`` is not registered or the loop is closed. Call it from the loop's
        thread.
        """
        if self._epoll.closed:
            return None
        n = self._lookup(fd)
        e = self._fds.get(n)
        if e is None or e.kind != _CLASSIC:
            return None
        self._check_fork()
        try:
            self._epoll.unregister(n)
        except OSError:
            pass
        self._clear_entry(n)

    def _handler_objects(self) -> list[object]:
        return [e.obj for fd, e in self._fds.items() if e.kind == _CLASSIC
                and (not isinstance(e.obj, int) or self._fd_matches(fd, e))]

    # -- asyncio readers and writers ---------------------------------------------

    def _add_rw(self, fd: FileDescriptorLike, callback: _Callback, args: tuple[object, ...],
                writer: bool) -> None:
        n = _aio_fileno(fd)
        _check_callable(callback, "callback")
        self._check_open()
        if n < 0:
            raise ValueError(f"fd {fd!r} is closed (fileno() returned -1)")
        h = Handle(self, callback, args, None, None, _AIO)
        if self._debug_enabled:
            # Frames: _add_rw, add_reader/add_writer, their caller.
            _debug_new(h, sys._getframe(2))
            h._flags |= _DEBUG
        bit = select.EPOLLOUT if writer else select.EPOLLIN
        e = self._fds.get(n)
        if e is not None and e.kind == _ASYNCIO:
            mask = e.events | bit
            try:
                self._epoll.modify(n, mask)
            except FileNotFoundError:
                # Closed and reused since: the kernel dropped the old
                # registration when it was closed.
                self._register(n, bit, _ASYNCIO, None,
                               None if writer else h, h if writer else None)
                return
            except OSError as exc:
                if exc.errno == errno.EBADF:
                    self._clear_entry(n)
                raise _fd_error(exc, n) from None
            e.events = mask
            old = e.writer if writer else e.reader
            if writer:
                e.writer = h
            else:
                e.reader = h
            if old is not None:
                old.cancel()
            return
        self._register(n, bit, _ASYNCIO, None, None if writer else h, h if writer else None)

    def _remove_rw(self, fd: FileDescriptorLike, writer: bool) -> bool:
        # As asyncio: a bad fd is an error even on a closed loop.
        n = _aio_fileno(fd)
        if self._epoll.closed:
            return False
        e = self._fds.get(n)
        if e is None or e.kind != _ASYNCIO:
            return False
        old = e.writer if writer else e.reader
        if old is None:
            return False
        self._check_fork()
        if writer:
            e.writer = None
        else:
            e.reader = None
        e.events &= ~(select.EPOLLOUT if writer else select.EPOLLIN)
        if e.reader is None and e.writer is None:
            try:
                self._epoll.unregister(n)
            except OSError:
                pass
            self._clear_entry(n)
        else:
            try:
                self._epoll.modify(n, e.events)
            except OSError:
                self._clear_entry(n)
        old.cancel()
        return True

    # While a transport is alive, the facade's _ensure_fd_no_transport
    # refuses changes to its fd (as asyncio does).
    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], object],
                   *args: Unpack[_Ts]) -> None:
        """Calls ``callback(*args)`` whenever ``fd`` is readable (asyncio API).

        ``fd`` is an int or an object with ``fileno()``. A reader already set
        for ``fd`` is replaced; a writer is kept. Call it from the loop's
        thread.

        Raises ``TypeError`` if ``callback`` is not callable; ``ValueError``,
        as asyncio, if ``fd`` is neither an int nor an object with a usable
        ``fileno()`` ("Invalid file object"), is negative ("Invalid file
        descriptor"), closed or one of the loop's own fds; ``FileExistsError``
        if ``fd`` is registered with ``add_handler``; ``RuntimeError`` if ``fd`` belongs to a transport
        or the loop is closed.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        self._add_rw(fd, callback, args, False)

    def add_writer(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], object],
                   *args: Unpack[_Ts]) -> None:
        """Calls ``callback(*args)`` whenever ``fd`` is writable (asyncio API).

        ``fd`` is an int or an object with ``fileno()``. A writer already set
        for ``fd`` is replaced; a reader is kept. Call it from the loop's
        thread.

        Raises ``TypeError`` if ``callback`` is not callable; ``ValueError``,
        as asyncio, if ``fd`` is neither an int nor an object with a usable
        ``fileno()`` ("Invalid file object"), is negative ("Invalid file
        descriptor"), closed or one of the loop's own fds; ``FileExistsError``
        if ``fd`` is registered with ``add_handler``; ``RuntimeError`` if ``fd`` belongs to a transport
        or the loop is closed.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        self._add_rw(fd, callback, args, True)

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        """Stops watching ``fd`` for reading (asyncio API).

        Returns ``True`` if a reader was removed, ``False`` if there was none
        (or the loop is closed). Raises ``ValueError`` for an invalid ``fd``, as
        ``add_reader`` does (also on a closed loop), and ``RuntimeError`` if
        ``fd`` belongs to a transport. Call it from the loop's thread.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        return self._remove_rw(fd, False)

    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        """Stops watching ``fd`` for writing (asyncio API).

        Returns ``True`` if a writer was removed, ``False`` if there was none
        (or the loop is closed). Raises ``ValueError`` for an invalid ``fd``, as
        ``add_reader`` does (also on a closed loop), and ``RuntimeError`` if
        ``fd`` belongs to a transport. Call it from the loop's thread.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        return self._remove_rw(fd, True)

    # Facade hooks' defaults (_common.FacadeHooks).

    def _ensure_fd_no_transport(self, fd: FileDescriptorLike) -> None:
        """Overridden by the facade (it knows the transports)."""

    def _check_thread(self) -> None:
        """Debug mode: overridden by the facade (it knows the loop's thread)."""

    # -- signals, fork, close --------------------------------------------------

    def _process_signals(self, data: bytes) -> None:
        """Signal numbers (one byte each) read from the wakeup fd."""
        # A facade hook's default (_common.FacadeHooks).

    def _signal_wakeup_fd(self) -> int:
        self._check_open()
        return self._sig_wfd

    def reinit_after_fork(self) -> None:
        """Makes a loop inherited through ``fork()`` usable in the child.

        After ``os.fork()`` the child's copy of the loop raises ``RuntimeError``
        from every method that schedules, registers or runs, until this is
        called. It gives the child its own epoll set and wake-up fds and
        registers the same fds with them; pending callbacks and timers are
        kept. The parent's loop is not affected. Raises ``RuntimeError`` if the
        loop is closed.
        """
        if self._closed:
            raise RuntimeError("IOLoop is closed")
        # Never edit the parent's (shared) epoll set: just drop our fds.
        self._epoll.close()
        os.close(self._waker_fd)
        if self._sig_rfd >= 0:
            os.close(self._sig_rfd)
            os.close(self._sig_wfd)
        self._sig_rfd = self._sig_wfd = -1
        self._epoll = select.epoll()
        self._open_wakers()
        for fd, e in list(self._fds.items()):
            try:
                self._epoll.register(fd, e.events)
            except OSError:
                self._clear_entry(fd)
        self._pending.clear()
        self._polling = False
        self._post_lock = threading.RLock()
        self._fork_epoch = _fork_epoch

    def _mark_closed(self) -> None:
        with self._post_lock:
            self._closed = True

    def _close(self) -> None:
        with self._post_lock:
            self._closed = True
            if not self._epoll.closed:
                self._epoll.close()
            for fd in (self._waker_fd, self._sig_rfd, self._sig_wfd):
                if fd >= 0:
                    os.close(fd)
            self._waker_fd = self._sig_rfd = self._sig_wfd = -1
        # As on the compiled engine, every handle the loop still held drops
        # its callback and arguments (its repr says "done").
        for h in self._heap:
            h.in_heap = False
            h.callback = h.args = h.kwargs = None
        for t in self._due:
            t.callback = t.args = t.kwargs = None
        for r in self._ready:
            r.callback = r.args = r.kwargs = None
        for e in self._fds.values():
            for fh in (e.reader, e.writer):
                if fh is not None:
                    fh.callback = fh.args = fh.kwargs = None
        self._heap = []
        self._heap_cancelled = 0
        self._ready.clear()
        self._due.clear()
        self._pending.clear()
        self._fds.clear()
        self._changed.clear()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self._close()
            except Exception:
                pass

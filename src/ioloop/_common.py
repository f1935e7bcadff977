"""Argument checks and messages shared by both engines.

The pure-Python twin uses these directly. The Cython engine keeps an inline
fast path for the common case (a float delay, an int fd, a callable) and
falls back to these for everything else, so the rules and the error
messages live in one place.

The checks take ``object``: they exist for callers that the type checker
did not see, and turn bad input into a clear exception naming the argument.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import inspect
import math
import numbers
import os
import sys
import weakref
from asyncio import format_helpers
from typing import Any, Protocol

__all__ = ["FacadeHooks", "aio_fileno", "check_callable", "clock_seconds", "deadline_to_when", "debug_info",
           "debug_keep_repr", "debug_kept_repr", "debug_new", "describe_callback", "event_mask",
           "fd_error", "fileno",
           "format_callback_source", "handle_repr", "source_traceback", "to_seconds"]

class FacadeHooks(Protocol):
    """The engine's calls into the facade: the one place they are declared.

    Both engines (``_core.pyx`` and ``_engine_py.py``) call these methods on
    ``self`` and do not define the first three: ``ioloop.IOLoop`` (``_loop.py``
    and its mixins) does. The last three have a do-nothing default in each
    engine that the facade overrides. Each is cold: a failed or slow
    callback, a returned awaitable, a signal, or debug mode. No hook may run
    the loop (``run_until_complete`` and the like raise while it runs); it
    may schedule work (``call_soon``, ``add_callback``). The engine-owned
    attributes the facade reads or sets are ``slow_callback_duration``,
    ``_current_handle`` (debug mode: the asyncio handle running now) and
    ``_py_owned_fds`` (live Python transports, see
    ``_ensure_fd_no_transport``).
    """

    def _report_exception(self, report: Any, callback: Any, args: Any) -> None:
        """A callback, handler or timer raised an ``Exception`` (any
        ``BaseException`` but ``KeyboardInterrupt`` and ``SystemExit``,
        which propagate out of ``start()`` instead).

        Called inside the engine's ``except`` block, so ``sys.exc_info()``
        is the exception, after the callback's context was left. ``report``
        says which API scheduled it: a ``Handle`` (``call_soon``,
        ``call_soon_threadsafe``, ``add_reader``/``add_writer``), a
        ``TimerHandle`` (its ``_asyncio_api`` tells ``call_later``/``call_at``
        from ``add_timeout``), or the callback itself (``add_callback``,
        ``add_handler``). ``callback`` is what ran and ``args`` its positional
        arguments (``None`` for a handler). It must not raise, except
        ``KeyboardInterrupt``/``SystemExit``, which stop the loop. No default.
        """

    def _check_slow(self, report: Any, callback: Any, args: Any, t0: float) -> None:
        """Debug mode only: a callback, handler or timer just returned (or
        its exception was reported); ``t0`` is ``time.monotonic()`` taken
        just before the call (real time, even under a virtual clock).
        ``report``, ``callback`` and ``args`` as for ``_report_exception``.
        May log; must not raise. No default.
        """

    def _handle_callback_result(self, result: Any) -> None:
        """A callback, handler or timer returned ``result``, not ``None``.

        Called still inside the callback's context (a task made from a
        returned awaitable inherits it), before the timing of the callback
        ends; an exception it raises is reported as the callback's own,
        through ``_report_exception``. No default.
        """

    def _process_signals(self, data: bytes) -> None:
        """The signal pipe (``signal.set_wakeup_fd``) was readable: ``data``
        holds one byte per signal number, after Python-level signal handlers
        ran. Called during the poll step, outside any callback; it should
        only schedule callbacks. An exception propagates out of ``start()``.
        Default: ignores ``data`` (``_unix.py``'s ``add_signal_handler``
        overrides it).
        """

    def _check_thread(self) -> None:
        """Debug mode only, from ``call_soon``, ``call_later`` and ``call_at``:
        raises ``RuntimeError`` if called from a thread other than the
        loop's (asyncio's check). Default: does nothing (``_loop.py``
        overrides it).
        """

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        """From ``add_reader``, ``add_writer``, ``remove_reader`` and
        ``remove_writer``, only while ``_py_owned_fds`` is not zero: raises
        ``RuntimeError`` if ``fd`` belongs to a transport. Default: does
        nothing (``_net.py`` overrides it).
        """


FD_MAX = 0x7FFFFFFF
EVENTS_MAX = 0xFFFFFFFF


def to_seconds(value: object, name: str) -> float:
    """``value`` as float seconds; inf for too-large ints, no NaN."""
    d: float
    if type(value) is float:
        d = value
    elif isinstance(value, (int, numbers.Real)):
        try:
            d = float(value)
        except OverflowError:
            d = -math.inf if value < 0 else math.inf
    else:
        raise TypeError(
            f"{name} must be a real number, not {type(value).__name__}: {value!r}")
    if d != d:
        raise ValueError(f"{name} must not be NaN")
    return d


def clock_seconds(value: object, name: str) -> float:
    """``value`` as a finite, non-negative float: a step of the virtual
    clock (``advance``) or the autojump threshold."""
    d = to_seconds(value, name)
    if d < 0:
        raise ValueError(f"{name} must not be negative, not {value!r}")
    if d == math.inf:
        raise ValueError(f"{name} must be finite, not {value!r}")
    return d


def deadline_to_when(deadline: object, now: float) -> float:
    """``add_timeout``'s deadline: a number on the ``time()`` scale, or a
    ``timedelta`` from ``now``."""
    if isinstance(deadline, datetime.timedelta):
        return now + deadline.total_seconds()
    if isinstance(deadline, (int, float, numbers.Real)):
        return to_seconds(deadline, "deadline")
    raise TypeError(f"Unsupported deadline {deadline!r}: expected a number "
                    f"on the time() scale or a datetime.timedelta")


def check_callable(callback: object, name: str) -> None:
    if not callable(callback):
        raise TypeError(f"{name} must be callable, not {type(callback).__name__}: {callback!r}")


def check_context(context: object) -> None:
    """``context=`` of call_soon & co: None or a `contextvars.Context`."""
    if type(context) is not contextvars.Context:
        raise TypeError(f"context must be a contextvars.Context or None, "
                        f"not {type(context).__name__}: {context!r}")


def fileno(fd: object) -> int:
    """The fd number of an int or ``fileno()`` object; -1 if it reports closed."""
    if isinstance(fd, int):
        if fd < 0:
            raise ValueError(f"fd must be a non-negative integer, not {fd!r}")
        if fd > FD_MAX:
            raise ValueError(f"fd out of range: {fd!r}")
        return int(fd)
    meth = getattr(fd, "fileno", None)
    if meth is None:
        raise TypeError(
            f"fd must be an int or an object with a fileno() method, "
            f"not {type(fd).__name__}: {fd!r}")
    n = meth()
    if not isinstance(n, int):
        raise TypeError(f"fileno() returned {type(n).__name__}, not int")
    if n < 0:
        return -1
    if n > FD_MAX:
        raise ValueError(f"fd out of range: {n!r}")
    return int(n)


def event_mask(events: object) -> int:
    if not isinstance(events, int):
        raise TypeError(f"events must be an int mask, not {type(events).__name__}: {events!r}")
    if events < 0 or events > EVENTS_MAX:
        raise ValueError(f"events mask out of range: {events!r}")
    return int(events)


def fd_error(err: int, fd: object) -> OSError:
    """An OSError naming the fd; OSError(errno, msg) picks the subclass
    (PermissionError for EPERM, ...)."""
    return OSError(err, f"{os.strerror(err)} (fd {fd})")


def aio_fileno(fd: object) -> int:
    """The fd number for ``add_reader``/``add_writer``/``remove_reader``/
    ``remove_writer``, with asyncio's errors (``selectors``' rules): an
    object without a usable ``fileno()`` is an "Invalid file object", a
    negative int an "Invalid file descriptor". -1 for an object whose
    ``fileno()`` says it is closed."""
    if isinstance(fd, int):
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        if fd > FD_MAX:
            raise ValueError(f"fd out of range: {fd!r}")
        return int(fd)
    try:
        n = int(fd.fileno())  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid file object: {fd!r}") from None
    if n < 0:
        return -1
    if n > FD_MAX:
        raise ValueError(f"fd out of range: {n!r}")
    return n


# -- handles: repr and debug mode -----------------------------------------------------

# Python 3.13 shows a callback's arguments only in debug mode (they may be
# sensitive); earlier versions always do.
_FORMAT_TAKES_DEBUG = "debug" in inspect.signature(format_helpers._format_callback_source).parameters


def format_callback_source(callback: object, args: tuple[object, ...] | None, debug: bool) -> str:
    """asyncio's text for a callback: ``name(args) at file:line``."""
    # (asyncio formats None and () the same.)
    fmt: Any = format_helpers._format_callback_source
    if _FORMAT_TAKES_DEBUG:
        return fmt(callback, args or (), debug=debug)  # type: ignore[no-any-return]
    return fmt(callback, args or ())  # type: ignore[no-any-return]


# Debug mode only: handle -> [where it was created, its repr when cancelled].
# A side table rather than fields: the handles stay small (a pending timer
# is 80 bytes) and nothing is stored outside debug mode. The entry goes
# with its handle (handles are weak-referenceable).
debug_info: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


# asyncio records DEBUG_STACK_DEPTH (10) frames, its own included, then
# drops its own: that leaves 8 of the caller's for call_soon, call_at,
# add_reader..., 7 for call_later (which goes through call_at).
STACK_DEPTH = 8
STACK_DEPTH_CALL_LATER = 7


def debug_new(handle: object, frame: Any = None, limit: int = STACK_DEPTH) -> None:
    """Records where ``handle`` was created: ``limit`` frames from ``frame``
    (by default the caller's frame; the Cython engine's methods have none),
    as asyncio's ``Handle._source_traceback``."""
    if frame is None:
        frame = sys._getframe(1)
    debug_info[handle] = [format_helpers.extract_stack(frame, limit), None]


def source_traceback(handle: object) -> Any:
    entry = debug_info.get(handle)
    return entry[0] if entry is not None else None


def debug_keep_repr(handle: object) -> None:
    """At ``cancel()`` in debug mode: keep the repr, which still names the
    callback (as asyncio does)."""
    entry = debug_info.get(handle)
    if entry is not None and entry[1] is None:
        entry[1] = repr(handle)


def debug_kept_repr(handle: object) -> str | None:
    entry = debug_info.get(handle)
    return entry[1] if entry is not None else None


def handle_repr(handle: object, kind: str, cancelled: object, callback: object,
                args: tuple[object, ...] | None, when: float | None) -> str:
    """asyncio's repr of a handle: ``<TimerHandle cancelled when=... cb() at
    file:line created at file:line>``; "done" once it ran (ioloop drops the
    callback then)."""
    tb = source_traceback(handle)
    info = [kind]
    if cancelled:
        info.append("cancelled")
    if when is not None:
        info.append(f"when={when}")
    if callback is not None:
        info.append(format_callback_source(callback, args, tb is not None))
    elif not cancelled:
        info.append("done")
    if tb:
        frame = tb[-1]
        info.append(f"created at {frame[0]}:{frame[1]}")
    return "<" + " ".join(info) + ">"


def describe_callback(report: object, callback: object) -> str:
    """What ``stats()`` and the blocking-loop watchdog call a callback, a
    handler or a timer: a task's repr for a task step (as asyncio's slow
    callback warning does), else the repr of the handle (asyncio's API, timers)
    or of the callback itself (``add_callback``, ``add_handler``) or of the
    transport. Never raises."""
    try:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            return repr(owner)
        if isinstance(owner, asyncio.BaseTransport):
            return repr(owner)  # a Python transport's own reader or writer
        cancelled = getattr(report, "cancelled", None)
        if callback is not None and callable(cancelled) and cancelled() is True:
            # Cancelled while it ran (a reader that removed itself): the
            # handle dropped its callback, name it all the same.
            when = getattr(report, "when", None)
            deadline = when() if callable(when) else None
            return handle_repr(report, type(report).__name__, True, callback, None,
                               deadline if isinstance(deadline, float) else None)
        return repr(report if report is not None else callback)
    except Exception:
        what = report if report is not None else callback
        return f"<{type(what).__qualname__} object (repr failed)>"

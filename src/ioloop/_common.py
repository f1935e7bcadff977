"""Argument checks and messages shared by both engines.

The pure-Python twin uses these directly. The Cython engine keeps an inline
fast path for the common case (a float delay, an int fd, a callable) and
falls back to these for everything else, so the rules and the error
messages live in one place.

The checks take ``object``: they exist for callers that the type checker
did not see, and turn bad input into a clear exception naming the argument.
"""

from __future__ import annotations

import datetime
import math
import numbers
import os

__all__ = ["check_callable", "deadline_to_when", "event_mask", "fd_error", "fileno",
           "handle_repr", "to_seconds"]

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


def handle_repr(kind: str, callback: object, args: tuple[object, ...] | None,
                extra: str | None) -> str:
    cb = getattr(callback, "__qualname__", None) or repr(callback)
    info = [kind, f"{cb}{args!r}" if args else str(cb)]
    if extra:
        info.append(extra)
    return "<" + " ".join(info) + ">"

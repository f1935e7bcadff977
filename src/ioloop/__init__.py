"""ioloop: a fast, trustworthy epoll event loop for Python on Linux.

Tornado's classic ``IOLoop`` API (``add_handler``, ``add_timeout``,
``add_callback``, ``start``) with its engine in Cython on ``<sys/epoll.h>``;
the same loop object is a complete asyncio event loop.

- ``IOLoop``: the loop. ``IOLoop.current()`` for the classic API;
  ``ioloop.run(main())`` or ``asyncio.run(main(),
  loop_factory=ioloop.new_event_loop)`` for asyncio.
- ``PeriodicCallback``: calls a function every N milliseconds.
- ``Handle`` and ``TimerHandle``: what ``call_soon`` and
  ``call_later``/``call_at``/``add_timeout`` return.
- ``TimeoutError``: raised by ``IOLoop.run_sync`` when its timeout expires.
  The builtin ``TimeoutError`` (``asyncio.TimeoutError`` is the same class)
  on Python 3.11+, a subclass of both on 3.10.
- ``run``, ``new_event_loop``, ``EventLoopPolicy`` and ``install``: the
  asyncio entry points.
- ``LoopStats``, ``FdInfo`` and ``TimerInfo``: the snapshots that
  ``IOLoop.stats()``, ``IOLoop.registered_fds()`` and
  ``IOLoop.pending_timers()`` return (see docs/observability.md).
- ``implementation``: the engine in use, ``"cython"`` or ``"python"`` (the
  pure-Python twin, forced with ``IOLOOP_NO_EXTENSIONS=1``).
"""

from typing import TYPE_CHECKING

from ._loop import IOLoop, TimeoutError, implementation
from ._observe import FdInfo, LoopStats, TimerInfo
from ._periodic import PeriodicCallback
from ._asyncio import EventLoopPolicy, install, new_event_loop, run

if TYPE_CHECKING:
    # Type checkers see the pure-Python engine, whichever runs (as ._loop does).
    from ._engine_py import Handle, TimerHandle
else:
    # The default engine's (ioloop._engines chooses it once, at import).
    from ._loop import Handle, TimerHandle

__version__ = "0.1.0"

__all__ = [
    "IOLoop",
    "PeriodicCallback",
    "TimeoutError",
    "Handle",
    "TimerHandle",
    "implementation",
    "new_event_loop",
    "run",
    "EventLoopPolicy",
    "install",
    "LoopStats",
    "FdInfo",
    "TimerInfo",
]

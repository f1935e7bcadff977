"""ioloop: a fast, trustworthy epoll event loop for Python on Linux.

Tornado's classic ``IOLoop`` API (``add_handler``, ``add_timeout``,
``add_callback``, ``start``) with its engine in Cython on ``<sys/epoll.h>``;
the same loop object is a complete asyncio event loop.

``ioloop.implementation`` says which engine is in use: ``"cython"`` or
``"python"`` (the pure-Python twin, forced with ``IOLOOP_NO_EXTENSIONS=1``).
"""

from ._loop import Handle, IOLoop, TimeoutError, TimerHandle, implementation
from ._periodic import PeriodicCallback
from ._asyncio import EventLoopPolicy, install, new_event_loop, run

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
]

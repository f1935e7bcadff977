"""asyncio entry points: ``new_event_loop``, ``run`` and the policy shims."""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ._loop import IOLoop

__all__ = ["new_event_loop", "run", "EventLoopPolicy", "install"]

_T = TypeVar("_T")


def new_event_loop() -> IOLoop:
    """Returns a new ioloop event loop, not running and not current.

    The loop factory for asyncio: ``asyncio.run(main(),
    loop_factory=ioloop.new_event_loop)`` (Python 3.12+) or
    ``asyncio.Runner(loop_factory=ioloop.new_event_loop)`` (3.11+). The
    same as ``IOLoop()``.
    """
    return IOLoop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """Runs coroutine ``main`` on a new ioloop loop and returns its result.

    Like ``asyncio.run`` (and ``uvloop.run``): it creates the loop, runs
    ``main`` to completion, then cancels the tasks left over, finishes
    the async generators and the default executor, and closes the loop.
    ``debug`` turns asyncio's debug mode on or off (``None``: leave it as
    the environment says).

    Raises ``RuntimeError`` if called from a running event loop; an
    exception raised by ``main`` propagates.
    """
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    return _run_310(main, debug)  # pragma: no cover - Python 3.10


def _run_310(main: Coroutine[Any, Any, _T], debug: bool | None) -> _T:  # pragma: no cover - Python 3.10
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("ioloop.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


if TYPE_CHECKING:
    if sys.version_info >= (3, 14):
        from asyncio.events import _BaseDefaultEventLoopPolicy as _PolicyBase
    else:
        from asyncio.events import BaseDefaultEventLoopPolicy as _PolicyBase
else:
    # Renamed in 3.14 (policies are deprecated), due to go in 3.16.
    _PolicyBase = (getattr(asyncio.events, "BaseDefaultEventLoopPolicy", None)
                   or getattr(asyncio.events, "_BaseDefaultEventLoopPolicy", None))

if _PolicyBase is not None:
    class EventLoopPolicy(_PolicyBase):
        """asyncio event loop policy whose new loops are ioloop loops.

        ``asyncio.set_event_loop_policy(ioloop.EventLoopPolicy())`` (or
        ``ioloop.install()``) makes ``asyncio.new_event_loop()`` and
        ``asyncio.run()`` create ioloop loops. A compatibility shim:
        asyncio's policy system is deprecated from Python 3.14; prefer
        ``ioloop.run()`` or ``loop_factory``.
        """

        _loop_factory = staticmethod(new_event_loop)

        def new_event_loop(self) -> IOLoop:
            """Returns a new ioloop event loop (see ``ioloop.new_event_loop``)."""
            return new_event_loop()

        # Child watchers (deprecated in 3.12, gone in 3.14): ioloop reaps its
        # children with pidfds. One set here is only consulted, as asyncio
        # does, before a subprocess is started (IOLoop._make_subprocess_transport).
        _watcher: Any = None

        def get_child_watcher(self) -> Any:
            """Returns the watcher given to ``set_child_watcher`` (or None).

            ioloop waits for its child processes with pidfds and needs no
            watcher. If one was set, starting a subprocess checks, as asyncio
            does, that it is active (`RuntimeError` if not), and nothing
            else. From Python 3.12 this warns `DeprecationWarning`, as
            asyncio's policy does.
            """
            if sys.version_info >= (3, 12):
                warnings.warn("'get_child_watcher' is deprecated as of Python 3.12 and will "
                              "be removed in Python 3.14.", DeprecationWarning, stacklevel=2)
            return self._watcher

        def set_child_watcher(self, watcher: Any) -> None:
            """Sets the child watcher (None: none), closing the previous one,
            as asyncio's policy does.

            ioloop does not reap through it: starting a subprocess only
            checks that it is active (see ``get_child_watcher``). From
            Python 3.12 this warns `DeprecationWarning`. Raises `TypeError`
            if ``watcher`` is neither None nor an
            ``asyncio.AbstractChildWatcher``.
            """
            base = getattr(asyncio, "AbstractChildWatcher", None)
            if watcher is not None and base is not None and not isinstance(watcher, base):
                raise TypeError(f"watcher must be an asyncio.AbstractChildWatcher or None, "
                                f"not {type(watcher).__name__}: {watcher!r}")
            if self._watcher is not None:
                self._watcher.close()
            self._watcher = watcher
            if sys.version_info >= (3, 12):
                warnings.warn("'set_child_watcher' is deprecated as of Python 3.12 and will "
                              "be removed in Python 3.14.", DeprecationWarning, stacklevel=2)

    def install() -> None:
        """Makes asyncio create ioloop loops, by installing ``EventLoopPolicy``.

        Deprecated with asyncio's policies (a ``DeprecationWarning`` from
        Python 3.12 on): prefer ``ioloop.run(main())`` or
        ``asyncio.run(main(), loop_factory=ioloop.new_event_loop)``.
        """
        if sys.version_info >= (3, 12):
            warnings.warn("ioloop.install() is deprecated in favour of ioloop.run() "
                          "or asyncio.run(loop_factory=ioloop.new_event_loop)",
                          DeprecationWarning, stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(EventLoopPolicy())
else:  # pragma: no cover - Pythons without policies
    EventLoopPolicy = None  # type: ignore[misc,assignment]

    def install() -> None:
        """Raises ``RuntimeError``: this Python has no asyncio event loop
        policies (use ``ioloop.run()`` or ``loop_factory``)."""
        raise RuntimeError("this Python has no asyncio event loop policies; "
                           "use ioloop.run() or asyncio.run(loop_factory=ioloop.new_event_loop)")

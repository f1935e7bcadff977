"""asyncio entry points: ``new_event_loop``, ``run`` and the policy shims."""

import asyncio
import sys
import warnings

from ._loop import IOLoop

__all__ = ["new_event_loop", "run", "EventLoopPolicy", "install"]


def new_event_loop():
    """A new ioloop event loop (for ``asyncio.run(loop_factory=...)``)."""
    return IOLoop()


def run(main, *, debug=None, **run_kwargs):
    """Run coroutine ``main`` on a new ioloop loop, like ``asyncio.run``."""
    if sys.version_info >= (3, 12):
        return asyncio.run(main, debug=debug, loop_factory=new_event_loop, **run_kwargs)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    return _run_310(main, debug)  # pragma: no cover - Python 3.10


def _run_310(main, debug):  # pragma: no cover - Python 3.10
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


_PolicyBase = (getattr(asyncio.events, "BaseDefaultEventLoopPolicy", None)
               or getattr(asyncio.events, "_BaseDefaultEventLoopPolicy", None))

if _PolicyBase is not None:
    class EventLoopPolicy(_PolicyBase):  # type: ignore[valid-type,misc]
        """asyncio policy whose new loops are ioloop loops (a compatibility
        shim: asyncio's policy system is deprecated from Python 3.14)."""

        _loop_factory = staticmethod(new_event_loop)

        def new_event_loop(self):
            return new_event_loop()

        # Child watchers (deprecated, gone in 3.14) are not used: ioloop
        # reaps its children with pidfds. Accept one for compatibility.
        _watcher = None

        def get_child_watcher(self):
            return self._watcher

        def set_child_watcher(self, watcher):
            self._watcher = watcher

    def install():
        """Make asyncio create ioloop loops (deprecated with asyncio's
        policies; prefer ``ioloop.run`` or ``loop_factory``)."""
        if sys.version_info >= (3, 12):
            warnings.warn("ioloop.install() is deprecated in favour of ioloop.run() "
                          "or asyncio.run(loop_factory=ioloop.new_event_loop)",
                          DeprecationWarning, stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(EventLoopPolicy())
else:  # pragma: no cover - Pythons without policies
    EventLoopPolicy = None  # type: ignore[misc,assignment]

    def install():
        raise RuntimeError("this Python has no asyncio event loop policies; "
                           "use ioloop.run() or asyncio.run(loop_factory=ioloop.new_event_loop)")

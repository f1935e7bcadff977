"""Virtual time for tests: timers that fire without waiting.

A loop from this module runs on a virtual clock. Whenever it would sleep
until its next timer with nothing else to do, it waits at most
``autojump_threshold`` seconds of real time for I/O and then moves its
clock forward to that timer (trio's "autojump" clock). ``await
asyncio.sleep(3600)`` finishes at once, a 30-second ``asyncio.wait_for``
times out at once, and timers still fire in deadline order. I/O works as
usual: while the loop waits for I/O within the threshold the clock does
not move, and a socket that becomes readable in that time is served
before any jump.

- ``VirtualClockIOLoop``: the loop, an ``ioloop.IOLoop`` (classic API and
  asyncio) whose ``time()`` is virtual; ``advance(seconds)`` moves the
  clock by hand.
- ``new_virtual_loop``: the loop factory, for ``asyncio.Runner``,
  ``asyncio.run(loop_factory=...)`` and pytest-asyncio.
- ``run``: runs a coroutine on a new virtual-time loop (like
  ``ioloop.run``).
- ``VirtualClockEventLoopPolicy``: an asyncio event loop policy that makes
  virtual-time loops, for tools that take a policy (pytest-asyncio's
  ``event_loop_policy`` fixture).

The pytest plugin ``ioloop.testing.pytest_plugin`` (opt in with
``pytest_plugins = ["ioloop.testing.pytest_plugin"]``) provides the
``ioloop_virtual_loop`` fixture. docs/testing.md has the details and
examples.

Virtual time is the loop's own: ``loop.time()``, ``call_later``,
``call_at``, ``add_timeout``, ``PeriodicCallback``, ``asyncio.sleep``,
``asyncio.timeout`` and ``run_sync(timeout=...)`` all use it;
``time.monotonic()`` and ``time.sleep()`` do not. Work in other threads
takes real time: while a job given to ``run_in_executor`` (hence
``asyncio.to_thread`` and the loop's ``getaddrinfo``) runs, the clock does
not jump; for other threads, give the loop a threshold long enough for
them to answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _common
from .._asyncio import EventLoopPolicy as _EventLoopPolicy
from .._asyncio import _run_310
from .._loop import IOLoop

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    _Ts = TypeVarTuple("_Ts")

_T = TypeVar("_T")

__all__ = ["VirtualClockIOLoop", "new_virtual_loop", "run", "VirtualClockEventLoopPolicy"]


class VirtualClockIOLoop(IOLoop):
    """An `IOLoop` on a virtual clock, for tests.

    ``autojump_threshold`` (seconds, default 0.0) turns on autojump: when
    the loop would sleep until its next timer with no callback ready, it
    waits at most that long in real time for I/O (or for a callback from
    another thread), and if none came, moves its clock forward to the
    timer instead of sleeping. With 0.0 the clock jumps at once; a small
    positive value (0.01 to 0.1) leaves time for I/O with another process
    or thread to complete before the clock moves. ``None`` turns autojump
    off: the clock then advances in real time plus whatever `advance`
    adds. A loop with no timer at all sleeps until I/O, as any loop does.

    ``make_current`` is as for `IOLoop`. Everything else is an `IOLoop`:
    the classic API, asyncio, networking. The clock starts at the real
    monotonic time and never goes backwards.

    Raises `TypeError` if ``autojump_threshold`` is not a real number or
    None, `ValueError` if it is negative, infinite or NaN.
    """

    def __init__(self, autojump_threshold: float | None = 0.0,
                 make_current: bool = False) -> None:
        """Creates a loop on a virtual clock (see the class documentation)."""
        self._autojump_setting: float | None = None
        self._autojump_paused = 0
        super().__init__(make_current=make_current)
        self.autojump_threshold = autojump_threshold

    @property
    def autojump_threshold(self) -> float | None:
        """The autojump threshold in seconds, or None when autojump is off.

        Settable at any time, also while the loop runs; the next sleep
        uses the new value. Setting raises `TypeError` for anything but a
        real number or None, `ValueError` for a negative, infinite or NaN
        number.
        """
        return self._autojump_setting

    @autojump_threshold.setter
    def autojump_threshold(self, threshold: float | None) -> None:
        if threshold is not None:
            # Validate now (the engine's check and message), even while
            # autojump is paused for an executor job.
            self._set_autojump_threshold(threshold)
            threshold = self._get_autojump_threshold()
        self._autojump_setting = threshold
        self._set_autojump_threshold(None if self._autojump_paused else threshold)

    def advance(self, seconds: float) -> None:
        """Moves the loop's clock forward by ``seconds``.

        Timers whose deadline is now past run in the loop's next iteration
        (in deadline order), as if that much time had passed. Call it from
        the loop's thread (a callback or a coroutine), or while the loop is
        not running; with the loop running, ``await asyncio.sleep(0)``
        after it lets the due timers run. Raises `TypeError` if
        ``seconds`` is not a real number, `ValueError` if it is negative,
        infinite or NaN.
        """
        self._advance_clock(seconds)

    # While a thread works for the loop, time passes in real time.

    def _pause_autojump(self) -> None:
        self._autojump_paused += 1
        if self._autojump_paused == 1:
            self._set_autojump_threshold(None)

    def _resume_autojump(self, _fut: object = None) -> None:
        self._autojump_paused -= 1
        if self._autojump_paused == 0 and not self.is_closed():
            self._set_autojump_threshold(self._autojump_setting)

    def run_in_executor(self, executor: concurrent.futures.Executor | None,
                        func: Callable[[Unpack[_Ts]], _T],
                        *args: Unpack[_Ts]) -> asyncio.Future[_T]:
        """Runs ``func(*args)`` in an executor, as `IOLoop.run_in_executor`.

        Until the returned future is done, the clock does not jump: a
        timeout around the job counts real time, as the job does.
        """
        self._pause_autojump()
        try:
            fut = super().run_in_executor(executor, func, *args)
        except BaseException:
            self._resume_autojump()
            raise
        fut.add_done_callback(self._resume_autojump)
        return fut

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Shuts down the default executor, as
        `IOLoop.shutdown_default_executor`; ``timeout`` counts real time
        (the clock does not jump while the threads finish)."""
        self._pause_autojump()
        try:
            await super().shutdown_default_executor(timeout)
        finally:
            self._resume_autojump()


def new_virtual_loop(autojump_threshold: float | None = 0.0) -> VirtualClockIOLoop:
    """Returns a new `VirtualClockIOLoop`, not running and not current.

    The loop factory for asyncio and pytest-asyncio:
    ``asyncio.run(main(), loop_factory=ioloop.testing.new_virtual_loop)``
    (Python 3.12+), ``asyncio.Runner(loop_factory=...)`` (3.11+), or
    ``functools.partial(new_virtual_loop, 0.05)`` for another threshold.
    """
    return VirtualClockIOLoop(autojump_threshold)


def run(main: Coroutine[Any, Any, _T], *, autojump_threshold: float | None = 0.0,
        debug: bool | None = None) -> _T:
    """Runs coroutine ``main`` on a new `VirtualClockIOLoop`; returns its result.

    As ``ioloop.run`` (and ``asyncio.run``): it creates the loop, runs
    ``main`` to completion, cancels the tasks left over, finishes the
    async generators and the default executor, and closes the loop.
    ``autojump_threshold`` is the loop's (see `VirtualClockIOLoop`);
    ``debug`` turns asyncio's debug mode on or off (None: as the
    environment says).

    Raises `RuntimeError` if called from a running event loop; an
    exception raised by ``main`` propagates.
    """
    if autojump_threshold is not None:
        try:
            _common.clock_seconds(autojump_threshold, "autojump_threshold")
        except (TypeError, ValueError):
            if asyncio.iscoroutine(main):
                main.close()  # never to run: no "never awaited" warning
            raise
    factory = functools.partial(new_virtual_loop, autojump_threshold)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
            return runner.run(main)
    return _run_310(main, debug, factory)  # pragma: no cover - Python 3.10


if _EventLoopPolicy is not None:
    class VirtualClockEventLoopPolicy(_EventLoopPolicy):
        """asyncio event loop policy whose new loops are `VirtualClockIOLoop`.

        For tools that take a policy rather than a loop factory, such as
        pytest-asyncio's ``event_loop_policy`` fixture.
        ``autojump_threshold`` is given to each new loop. asyncio's policy
        system is deprecated from Python 3.14; prefer `new_virtual_loop`
        as a loop factory where a tool accepts one.
        """

        def __init__(self, autojump_threshold: float | None = 0.0) -> None:
            """Makes a policy whose loops get ``autojump_threshold``
            (checked now, as `VirtualClockIOLoop` does)."""
            super().__init__()
            if autojump_threshold is not None:
                _common.clock_seconds(autojump_threshold, "autojump_threshold")
            self._autojump_threshold = autojump_threshold

        def new_event_loop(self) -> VirtualClockIOLoop:
            """Returns a new `VirtualClockIOLoop` with the policy's threshold."""
            return new_virtual_loop(self._autojump_threshold)
else:  # pragma: no cover - Pythons without policies
    VirtualClockEventLoopPolicy = None  # type: ignore[misc,assignment]

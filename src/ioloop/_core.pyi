"""Type stub for the compiled engine ``ioloop._core`` (kept honest by
``mypy.stubtest``; see tests/test_stub.py). The pure-Python twin
``ioloop._engine_py`` has the same surface, the same types and the same
docstrings (tests/test_docstrings.py compares them)."""

import contextvars
import datetime
from _typeshed import FileDescriptorLike, HasFileno
from collections.abc import Callable
from typing import Any, TypeVar, final, overload

from typing_extensions import ParamSpec, TypeVarTuple, Unpack, disjoint_base

_P = ParamSpec("_P")
_Ts = TypeVarTuple("_Ts")
_FD = TypeVar("_FD", bound=int | HasFileno)

@final
class Handle:
    """A callback scheduled with ``call_soon`` or ``call_soon_threadsafe``.

    Returned by those methods; not created directly. ``cancel()`` keeps the
    callback from running.
    """

    def cancel(self) -> None:
        """Keeps the callback from running, if it has not run yet.

        The handle drops its references to the callback and its arguments
        at once. Cancelling twice, or after the callback ran, is harmless.
        Call it from the loop's thread.
        """
    def cancelled(self) -> bool:
        """Returns ``True`` once ``cancel()`` has been called."""
    def get_context(self) -> contextvars.Context:
        """Returns the ``contextvars.Context`` the callback runs in."""
    # Debug mode (asyncio's attribute): where the handle was created, else None.
    @property
    def _source_traceback(self) -> Any: ...

@final
class TimerHandle:
    """A timer scheduled with ``call_later``, ``call_at`` or ``add_timeout``.

    Returned by those methods; not created directly. Pass it to
    ``remove_timeout`` (or call its ``cancel()``) to cancel the timer.
    """

    def cancel(self) -> None:
        """Keeps the callback from running, if it has not run yet.

        The same as ``loop.remove_timeout(timer)``. The timer drops its
        references to the callback and its arguments at once. Cancelling
        twice, or after the callback ran, is harmless. Call it from the
        loop's thread.
        """
    def cancelled(self) -> bool:
        """Returns ``True`` once the timer has been cancelled (by ``cancel()``
        or ``remove_timeout``).
        """
    def when(self) -> float:
        """Returns the time the timer is due, in seconds on the loop's
        ``time()`` scale.
        """
    def get_context(self) -> contextvars.Context:
        """Returns the ``contextvars.Context`` the callback runs in."""
    # Debug mode (asyncio's attribute): where the handle was created, else None.
    @property
    def _source_traceback(self) -> Any: ...
    # Made by call_later/call_at (asyncio's API), not add_timeout.
    @property
    def _asyncio_api(self) -> bool: ...

@disjoint_base
class Loop:
    """The engine: epoll table, timer heap, ready queue, waker."""

    # A property at run time (it checks what it is given); a float to type
    # checkers, as asyncio's attribute.
    slow_callback_duration: float
    """Seconds a callback may run before debug mode warns that it was slow
    (asyncio's attribute; 0.1 by default). A finite number >= 0: anything else
    raises ``TypeError`` or ``ValueError``."""
    _py_owned_fds: int
    _stream_core: type[StreamCore]
    _current_handle: Any
    @property
    def _closed(self) -> bool: ...
    def time(self) -> float:
        """Returns the loop's current time, in seconds (a float).

        The clock is ``CLOCK_MONOTONIC``, the scale of ``time.monotonic()``: it
        never goes backwards and ignores changes to the system clock, but its
        zero is arbitrary. ``call_at`` and ``add_timeout`` take deadlines on
        this scale.
        """
    def get_debug(self) -> bool:
        """Returns ``True`` if debug mode is on (see ``set_debug``)."""
    def set_debug(self, enabled: bool) -> None:
        """Turns asyncio's debug mode on or off: the engine's half
        (``ioloop.IOLoop.set_debug`` documents the whole)."""
    def fileno(self) -> int:
        """Returns the fd of the loop's epoll set (-1 once the loop is closed).

        To drive the loop from another main loop, wait for this fd to be
        readable (it is when I/O the loop watches is ready, or when another
        thread posted a callback between two ``run_once()`` calls), or for
        ``poll_timeout()`` seconds, then call ``run_once()``. Do not close it,
        read it or change its registrations.
        """
    def is_running(self) -> bool:
        """Returns ``True`` while the loop runs (in ``start()``, ``run_forever()``,
        ``run_until_complete()`` or ``run_sync()``)."""
    def is_closed(self) -> bool:
        """Returns ``True`` once ``close()`` has been called."""
    def add_callback(self, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs) -> None:
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
    def call_soon(
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: contextvars.Context | None = None
    ) -> Handle:
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
    def call_soon_threadsafe(
        self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: contextvars.Context | None = None
    ) -> Handle:
        """Like ``call_soon``, but safe to call from any thread.

        It wakes the loop up if it is waiting for I/O. Returns a ``Handle``.
        Raises ``TypeError`` if ``callback`` is not callable and
        ``RuntimeError`` if the loop is closed.
        """
    @overload
    def call_at(
        self, when: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: contextvars.Context | None = None
    ) -> TimerHandle:
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
    @overload
    def call_at(self, when: float, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs) -> TimerHandle: ...
    @overload
    def call_later(
        self, delay: float, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts], context: contextvars.Context | None = None
    ) -> TimerHandle:
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
    @overload
    def call_later(self, delay: float, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs) -> TimerHandle: ...
    def add_timeout(
        self, deadline: float | datetime.timedelta, callback: Callable[_P, object], *args: _P.args, **kwargs: _P.kwargs
    ) -> TimerHandle:
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
    def remove_timeout(self, timeout: object) -> None:
        """Cancels a timer.

        ``timeout`` is a ``TimerHandle`` returned by ``add_timeout``,
        ``call_later`` or ``call_at``. Safe to call after the timer has run or
        been cancelled; any other object, a timer of another loop included, is
        ignored. Call it from the loop's thread.
        """
    def stop(self) -> None:
        """Stops the loop after the current iteration.

        ``start()`` (or ``run_forever()``) returns once the callbacks, handlers
        and timers of this iteration have run; what is scheduled for later
        stays scheduled, and runs if the loop is started again. Called while
        the loop is not running, it makes the next ``start()`` return after one
        iteration. To stop the loop from another thread, use
        ``loop.add_callback(loop.stop)``.
        """
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
    def update_handler(self, fd: FileDescriptorLike, events: int) -> None:
        """Changes the events ``fd`` is watched for to ``events``.

        ``fd`` is the int or object given to ``add_handler``; ``IOLoop.ERROR``
        is always watched. Call it from the loop's thread.

        Raises ``ValueError`` if ``fd`` is not registered with ``add_handler``
        (or was closed without ``remove_handler``) or ``events`` is out of
        range, ``TypeError`` if ``events`` is not an int and ``RuntimeError`` if
        the loop is closed.
        """
    def remove_handler(self, fd: FileDescriptorLike) -> None:
        """Stops watching ``fd``, the int or object given to ``add_handler``.

        It takes effect at once: the handler is not called again, not even for
        events already polled in this iteration, and ``fd`` may be closed right
        after. A socket closed before this call is still found. Does nothing if
        ``fd`` is not registered or the loop is closed. Call it from the loop's
        thread.
        """
    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts]) -> None:
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
    def add_writer(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts]) -> None:
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
    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        """Stops watching ``fd`` for reading (asyncio API).

        Returns ``True`` if a reader was removed, ``False`` if there was none
        (or the loop is closed). Raises ``ValueError`` for an invalid ``fd``, as
        ``add_reader`` does (also on a closed loop), and ``RuntimeError`` if
        ``fd`` belongs to a transport. Call it from the loop's thread.
        """
    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        """Stops watching ``fd`` for writing (asyncio API).

        Returns ``True`` if a writer was removed, ``False`` if there was none
        (or the loop is closed). Raises ``ValueError`` for an invalid ``fd``, as
        ``add_reader`` does (also on a closed loop), and ``RuntimeError`` if
        ``fd`` belongs to a transport. Call it from the loop's thread.
        """
    def reinit_after_fork(self) -> None:
        """Makes a loop inherited through ``fork()`` usable in the child.

        After ``os.fork()`` the child's copy of the loop raises ``RuntimeError``
        from every method that schedules, registers or runs, until this is
        called. It gives the child its own epoll set and wake-up fds and
        registers the same fds with them; pending callbacks and timers are
        kept. The parent's loop is not affected. Raises ``RuntimeError`` if the
        loop is closed.
        """
    # Internal: called by the facade (ioloop.IOLoop) and its mixins.
    def _run(self) -> None: ...
    def _timer_count(self) -> int: ...
    def _advance_clock(self, seconds: float) -> None: ...
    def _set_autojump_threshold(self, threshold: float | None) -> None: ...
    def _get_autojump_threshold(self) -> float | None: ...
    def _lookup(self, fd: object) -> int: ...
    def _handler_objects(self) -> list[object]: ...
    def _add_rw(self, fd: FileDescriptorLike, callback: Callable[..., object], args: tuple[object, ...], writer: bool) -> None: ...
    # Hooks with a do-nothing default that the facade overrides (contracts: ioloop._common.FacadeHooks).
    def _ensure_fd_no_transport(self, fd: FileDescriptorLike) -> None: ...
    def _check_thread(self) -> None: ...
    def _process_signals(self, data: bytes) -> None: ...
    def _remove_rw(self, fd: FileDescriptorLike, writer: bool) -> bool: ...
    def _signal_wakeup_fd(self) -> int: ...
    def _queue_write(self, tr: Any) -> None: ...
    def _mark_closed(self) -> None: ...
    def _close(self) -> None: ...

@disjoint_base
class StreamCore:
    """The C hot paths of an ``ioloop._transports.StreamTransport`` (the
    same interface as the pure-Python ``ioloop._transports.StreamCore``)."""
    _empty_waiter: Any
    _protocol_paused: bool
    _closing: bool
    _eof: bool
    _conn_lost: int
    _high_water: int
    _low_water: int
    @property
    def _sock_fd(self) -> int: ...
    @property
    def _protocol(self) -> Any: ...
    @property
    def _context(self) -> Any: ...
    @property
    def _paused(self) -> bool: ...
    def __new__(cls, face: Any, loop: Loop, sock: Any, protocol: Any) -> StreamCore: ...
    def _start_reading(self) -> None: ...
    def _stop_reading(self) -> None: ...
    def _set_events(self, reading: bool, writing: bool) -> None: ...
    def _detach(self) -> None: ...
    def _set_protocol(self, protocol: Any) -> None: ...
    def _shutdown_write(self) -> None: ...
    def _drop_buffer(self) -> None: ...
    def is_closing(self) -> bool: ...
    def is_reading(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def write(self, data: Any) -> None: ...
    def writelines(self, list_of_data: Any) -> None: ...
    def get_write_buffer_size(self) -> int: ...

READ_CHUNK: int
IOV_BATCH: int
LOG_THRESHOLD_FOR_CONNLOST_WRITES: int

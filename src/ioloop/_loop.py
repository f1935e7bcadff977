"""The public loop: Tornado-classic ``IOLoop`` and asyncio event loop in one.

The engine (``ioloop._core.Loop`` in Cython, or its pure-Python twin
``ioloop._engine_py.Loop``) owns the epoll set, the timer heap, the ready
queue and the waker, and implements the hot methods (``add_callback``,
``call_soon``, ``call_later``/``call_at``/``add_timeout``, the handler and
reader/writer registry, ``stop``). This module adds everything that is not
on the hot path: "current"/"instance" bookkeeping, ``start``/``run_sync``,
futures and executors, the exception-handler API and the rest of
``asyncio.AbstractEventLoop``.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import inspect
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import weakref
from typing import TYPE_CHECKING, Any, overload

__all__ = ["IOLoop", "TimeoutError", "implementation"]

from . import _engines

if TYPE_CHECKING:
    # Type checkers see the pure-Python twin (the stub _core.pyi matches it).
    from ._engine_py import Handle, TimerHandle
    implementation: str
else:
    # The default engine, chosen once by _engines when ioloop is imported.
    Handle = _engines.default.Handle
    TimerHandle = _engines.default.TimerHandle
    implementation = _engines.implementation

from asyncio import constants as _asyncio_constants

from . import _common
from ._net import NetMixin
from ._observe import ObserveMixin
from ._unix import UnixMixin

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator
    from contextvars import Context
    from typing import ClassVar, Literal, ParamSpec, Protocol, TypeAlias, TypeVar

    from _typeshed import FileDescriptorLike
    from typing_extensions import TypeVarTuple, Unpack

    _T = TypeVar("_T")
    _P = ParamSpec("_P")
    _Ts = TypeVarTuple("_Ts")
    _FdT = TypeVar("_FdT", bound=FileDescriptorLike)
    _FutureT = TypeVar("_FutureT", bound=asyncio.Future[Any] | concurrent.futures.Future[Any])

    # What run_until_complete() and create_task() accept, as in typeshed:
    # generator-based coroutines only before Python 3.12.
    if sys.version_info >= (3, 12):
        _AwaitableLike: TypeAlias = Awaitable[_T]
        _CoroutineLike: TypeAlias = Coroutine[Any, Any, _T]
    else:
        _AwaitableLike: TypeAlias = Generator[Any, None, _T] | Awaitable[_T]
        _CoroutineLike: TypeAlias = Generator[Any, None, _T] | Coroutine[Any, Any, _T]

    _ExceptionHandler: TypeAlias = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]

    class _TaskFactory(Protocol):
        # The same protocol as typeshed's asyncio.events._TaskFactory.
        def __call__(self, loop: asyncio.AbstractEventLoop,
                     factory: _CoroutineLike[_T], /) -> asyncio.Future[_T]: ...

    class _SupportsClose(Protocol):
        def close(self) -> object: ...

logger = logging.getLogger("ioloop")
_asyncio_logger = logging.getLogger("asyncio")

if sys.version_info >= (3, 11):
    # asyncio.TimeoutError is the builtin TimeoutError.
    TimeoutError = asyncio.TimeoutError
else:  # pragma: no cover - Python 3.10
    class TimeoutError(asyncio.TimeoutError, builtins.TimeoutError):
        """Raised by ``run_sync`` on timeout (both asyncio's and the builtin)."""

# Frames a coroutine records in debug mode (asyncio's constant).
_DEBUG_STACK_DEPTH: int = _asyncio_constants.DEBUG_STACK_DEPTH

_PY311 = sys.version_info >= (3, 11)
_PY312 = sys.version_info >= (3, 12)


class _Current(threading.local):
    loop: IOLoop | None = None


_current = _Current()


class IOLoop(ObserveMixin, UnixMixin, NetMixin):  # type: ignore[misc]
    """An epoll event loop with Tornado's classic API and asyncio's.

    Example: a TCP echo server on the classic API::

        import functools, socket
        from ioloop import IOLoop

        def on_readable(conn, fd, events):
            data = conn.recv(4096)
            if data:
                conn.send(data)
            else:
                IOLoop.current().remove_handler(conn)
                conn.close()

        def on_accept(sock, fd, events):
            conn, _ = sock.accept()
            conn.setblocking(False)
            IOLoop.current().add_handler(
                conn, functools.partial(on_readable, conn), IOLoop.READ)

        sock = socket.create_server(("127.0.0.1", 8888))
        sock.setblocking(False)
        loop = IOLoop.current()
        loop.add_handler(sock, functools.partial(on_accept, sock), IOLoop.READ)
        loop.start()

    The same object is an ``asyncio.AbstractEventLoop``: coroutines, tasks
    and ``asyncio.sleep`` run on it (``ioloop.run(main())``).

    Times are in seconds on the ``time()`` clock (``CLOCK_MONOTONIC``).
    An `IOLoop` belongs to the thread that runs it: only ``add_callback``
    (and ``call_soon_threadsafe``) may be called from another thread.

    The event masks (``READ``, ``WRITE``, ``ERROR``, ``PRI``, ``RDHUP``,
    ``ONESHOT``, ``EDGE``, ``EXCLUSIVE``) are the raw Linux epoll bits,
    passed through unchanged.
    """

    # Raw Linux epoll bits, passed through unchanged.
    NONE = 0
    READ = 0x001
    WRITE = 0x004
    ERROR = 0x018
    PRI = 0x002
    RDHUP = 0x2000
    ONESHOT = 1 << 30
    EDGE = 1 << 31
    EXCLUSIVE = 1 << 28

    # (Type comments: a class-level annotation would put __annotations__
    # into help(IOLoop).)
    _instance = None  # type: ClassVar[IOLoop | None]
    _instance_lock = threading.Lock()  # type: ClassVar[threading.Lock]

    def __init__(self, make_current: bool = False) -> None:
        """Creates a new loop.

        A new `IOLoop` is not current: it becomes current in its thread
        while it runs (``start``, ``run_sync``, ``run_until_complete``), or
        at once with ``make_current=True``, which raises `RuntimeError` if
        this thread already has a current `IOLoop`. The loop starts in debug
        mode when asyncio's is on (``PYTHONASYNCIODEBUG=1``, ``-X dev``).
        """
        super().__init__()
        self._thread_id: int | None = None
        self._exception_handler: _ExceptionHandler | None = None
        self._default_executor: concurrent.futures.Executor | None = None
        self._executor_shutdown_called = False
        self._task_factory: _TaskFactory | None = None
        self._asyncgens: weakref.WeakSet[AsyncGenerator[Any, Any]] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        # Tasks made from awaitables returned by callbacks: keep them alive.
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        debug_mode = getattr(asyncio.coroutines, "_is_debug_mode", None)
        if debug_mode is not None and debug_mode():
            self.set_debug(True)
        if make_current:
            if IOLoop.current(instance=False) is not None:
                raise RuntimeError("current IOLoop already exists")
            self.make_current()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} engine={self._engine.name} "
                f"running={self.is_running()} closed={self.is_closed()}>")

    # -- instance / current ------------------------------------------------------

    @staticmethod
    def instance() -> IOLoop:
        """Returns the process-wide `IOLoop`, creating it on first use.

        Unlike Tornado 5 and later, where ``instance()`` is an alias for
        `current()`, this is a true singleton, shared by all threads: a
        thread that is not the loop's own may use it only to call
        ``add_callback``. Safe to call from any thread (the loop is created
        under a lock). `install()` chooses the loop; `close()` on it, or
        `clear_instance()`, forgets it.
        """
        inst = IOLoop._instance
        if inst is None:
            with IOLoop._instance_lock:
                inst = IOLoop._instance
                if inst is None:
                    inst = IOLoop._instance = IOLoop()
        return inst

    @staticmethod
    def initialized() -> bool:
        """Returns True if the singleton `instance()` exists."""
        return IOLoop._instance is not None

    def install(self) -> None:
        """Makes this loop the singleton returned by `instance()`.

        Raises `RuntimeError` if another loop already is.
        """
        with IOLoop._instance_lock:
            if IOLoop._instance is not None and IOLoop._instance is not self:
                raise RuntimeError("IOLoop.instance() already exists")
            IOLoop._instance = self

    @staticmethod
    def clear_instance() -> None:
        """Forgets the singleton, without closing it.

        The next `instance()` call creates a new loop.
        """
        with IOLoop._instance_lock:
            IOLoop._instance = None

    @overload
    @staticmethod
    def current() -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: Literal[True]) -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: bool) -> IOLoop | None: ...

    @staticmethod
    def current(instance: bool = True) -> IOLoop | None:
        """Returns the current thread's `IOLoop`.

        That is the `IOLoop` running in this thread, else the one made
        current by `make_current` (or ``IOLoop(make_current=True)``). If
        there is none and ``instance`` is true, returns the singleton
        `instance()`, creating it if needed; with ``instance=False``,
        returns None. An asyncio loop of another kind running in this
        thread is not an `IOLoop` and is not returned.
        """
        running = asyncio._get_running_loop()
        if isinstance(running, IOLoop):
            return running
        cur = _current.loop
        if cur is not None:
            return cur
        if instance:
            return IOLoop.instance()
        return None

    def make_current(self) -> None:
        """Makes this the `IOLoop` for the current thread.

        An `IOLoop` is current in its thread while it runs; call this before
        `start()` so that code run at startup finds it with `current()`.
        It stays current until `clear_current()`, until another loop is
        made current, or until it is closed.
        """
        _current.loop = self

    @staticmethod
    def clear_current() -> None:
        """Clears the `IOLoop` made current in this thread.

        A running loop stays current while it runs. Intended mainly for
        test frameworks, between tests.
        """
        _current.loop = None

    # -- fd helpers (Tornado 4) --------------------------------------------------

    @staticmethod
    def split_fd(fd: _FdT) -> tuple[int, _FdT]:
        """Returns ``(fd_number, fd)`` for an int or an object with ``fileno()``.

        For an int, both items are the int. Handlers registered with
        `add_handler` get back the object they were registered with; this
        gives them its number. Errors raised by ``fileno()`` (a closed
        file's `ValueError`) propagate.
        """
        try:
            return fd.fileno(), fd  # type: ignore[union-attr]
        except AttributeError:
            return fd, fd  # type: ignore[return-value]

    @staticmethod
    def close_fd(fd: FileDescriptorLike | _SupportsClose) -> None:
        """Closes a file descriptor or file-like object.

        Calls ``fd.close()`` if it has one, else closes ``fd.fileno()``,
        else closes the int ``fd``. `OSError` (an fd closed already) is
        ignored. ``close(all_fds=True)`` uses this on every object given to
        `add_handler`.
        """
        try:
            close = getattr(fd, "close", None)
            if close is not None:
                close()
            elif isinstance(fd, int):
                os.close(fd)
            else:
                os.close(fd.fileno())  # type: ignore[union-attr]
        except OSError:
            pass

    # -- callbacks ---------------------------------------------------------------

    def add_callback_from_signal(self, callback: Callable[_P, object],
                                 *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Calls the given callback on the next I/O loop iteration, from a
        Python signal handler.

        The same as `add_callback`, which may be called from a signal
        handler (Python runs those between bytecodes of the main thread,
        and the engine tolerates being interrupted there). Prefer
        `add_signal_handler`, which runs its callback on the loop without
        any of the restrictions of a signal handler.
        """
        self.add_callback(callback, *args, **kwargs)

    def spawn_callback(self, callback: Callable[_P, object],
                       *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Calls the given callback on the next IOLoop iteration.

        Equivalent to `add_callback` (as in Tornado 6).
        """
        self.add_callback(callback, *args, **kwargs)

    def add_future(self, future: _FutureT, callback: Callable[[_FutureT], object]) -> None:
        """Schedules ``callback(future)`` on the loop once ``future`` is done.

        ``future`` is an `asyncio.Future` (a `asyncio.Task` too) or a
        `concurrent.futures.Future`; the latter may finish in any thread,
        and the callback still runs on the loop's thread. The callback
        always runs on a later loop iteration, never within this call, even
        when ``future`` is already done; if it returns an awaitable, that is
        run as a task. Other awaitables are not accepted: wrap a coroutine
        with `create_task` first.

        Raises `TypeError` if ``callback`` is not callable or ``future`` is
        not a future.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if isinstance(future, concurrent.futures.Future) or asyncio.isfuture(future):
            future.add_done_callback(lambda _: self.add_callback(callback, future))
        else:
            raise TypeError(f"future must be an asyncio or concurrent.futures Future, "
                            f"not {type(future).__name__}: {future!r}")

    def _handle_callback_result(self, result: object) -> None:
        # A callback that returns an awaitable has it run to completion, and
        # its exception reported (Tornado's _run_callback). Anything else is
        # ignored -- in particular {} or [], which Tornado's convert_yielded
        # would take for a collection of futures.
        if asyncio.isfuture(result) or inspect.isawaitable(result):
            try:
                fut = asyncio.ensure_future(result, loop=self)
            except (TypeError, ValueError):
                return
            self._callback_tasks.add(fut)
            fut.add_done_callback(self._callback_task_done)

    def _callback_task_done(self, fut: asyncio.Future[Any]) -> None:
        self._callback_tasks.discard(fut)
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.call_exception_handler({
                "message": "Exception in awaitable returned by a callback",
                "exception": exc,
                "future": fut,
            })

    def handle_callback_exception(self, callback: Callable[..., object]) -> None:
        """Reports an exception raised by a callback, timer or I/O handler
        of the classic API.

        That is a callback of `add_callback` (`spawn_callback`,
        `add_callback_from_signal`), a handler of `add_handler`, a timer of
        `add_timeout`, or a `PeriodicCallback`. ``callback`` is what raised:
        the I/O handler, or the callback function. It is called inside the
        ``except`` block, so `sys.exc_info()` gives the exception. The
        default logs "Exception in callback ..." and the traceback on the
        ``ioloop`` logger (as Tornado does on its own), or, if a handler was
        set with `set_exception_handler`, passes it an asyncio-style context
        (``message``, ``exception``, ``handle``: the callback) instead.

        Callbacks scheduled through asyncio's API (``call_soon``,
        ``call_later``, ``call_at``, ``add_reader``...) are reported as
        asyncio does, to `call_exception_handler`, not here.

        Subclasses may override it. An exception it raises is logged and
        does not stop the loop. `KeyboardInterrupt` and `SystemExit` raised
        by a callback do not come here: they propagate out of `start()`.
        Nor does a `BrokenPipeError` raised by an I/O handler: it is
        ignored.
        """
        if self._exception_handler is None:
            logger.error("Exception in callback %r", callback, exc_info=True)
            return
        self.call_exception_handler({
            "message": f"Exception in callback {callback!r}",
            "exception": sys.exc_info()[1],
            "handle": callback,
        })

    # The engine's calls into the facade: contracts in _common.FacadeHooks.

    def _report_exception(self, report: Any, callback: Any, args: Any) -> None:
        # Called while the callback's exception is being handled. ``report``
        # is the Handle, or TimerHandle, that ran; for the classic API, the
        # callback itself or an add_timeout TimerHandle.
        if _asyncio_api(self._engine, report):
            exc = sys.exc_info()[1]
            context = {
                "message": "Exception in callback "
                           + _common.format_callback_source(callback, args, self.get_debug()),
                "exception": exc,
                "handle": report,
            }
            tb = report._source_traceback
            if tb:
                context["source_traceback"] = tb
            try:
                self.call_exception_handler(context)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                # Only an overridden call_exception_handler gets here.
                _asyncio_logger.error("Exception in call_exception_handler", exc_info=True)
            return
        try:
            self.handle_callback_exception(callback)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            logger.error("Exception in handle_callback_exception for %r",
                         callback, exc_info=True)

    def _check_slow(self, report: Any, callback: Any, args: Any, t0: float) -> None:
        # Debug mode: the callback just ran; say so if it took too long.
        # Real time, as t0 is: time() may be virtual (ioloop.testing).
        dt = time.monotonic() - t0
        if dt < self.slow_callback_duration:
            return
        if _asyncio_api(self._engine, report):
            # asyncio's text: the handle, or the task for a task step.
            _asyncio_logger.warning("Executing %s took %.3f seconds",
                                    _format_handle(self._engine, report, callback, args), dt)
        else:
            owner = getattr(callback, "__self__", None)
            what = owner if isinstance(owner, asyncio.Task) else callback
            logger.warning("Executing %r took %.3f seconds", what, dt)

    def _check_thread(self) -> None:
        # Debug mode, from call_soon, call_later and call_at (asyncio's check).
        if self._thread_id is None:
            return
        if threading.get_ident() != self._thread_id:
            raise RuntimeError("Non-thread-safe operation invoked on an event loop other "
                               "than the current one")

    # -- debug mode ----------------------------------------------------------------

    def set_debug(self, enabled: bool) -> None:
        """Turns debug mode on or off: asyncio's debug mode.

        In debug mode, as on asyncio's loop: ``call_soon``,
        ``call_soon_threadsafe``, ``call_later``, ``call_at``, ``add_reader``
        and ``add_writer`` record where they were called (the handle's
        ``_source_traceback``; its repr ends with "created at file:line"; an
        exception it raises is reported with a ``source_traceback``);
        ``call_soon``, ``call_later`` and ``call_at`` called from a thread
        other than the one running the loop raise `RuntimeError`; each
        callback, handler or timer that runs for ``slow_callback_duration``
        seconds (0.1 by default) or more logs a warning ("Executing ... took
        0.105 seconds": on the ``asyncio`` logger for asyncio's API, on the
        ``ioloop`` logger for the classic one); and while the loop runs,
        coroutines record where they were created
        (`sys.set_coroutine_origin_tracking_depth`), so that "coroutine ...
        was never awaited" warnings say where. A loop created while
        asyncio's debug mode is on (``PYTHONASYNCIODEBUG=1``, ``python -X
        dev``) starts in debug mode.
        """
        super().set_debug(enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, bool(enabled))

    _coroutine_origin_tracking_enabled = False
    _coroutine_origin_tracking_saved_depth = 0

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        # As asyncio's loop: only while it runs (a process-wide setting).
        if bool(enabled) == bool(self._coroutine_origin_tracking_enabled):
            return
        if enabled:
            self._coroutine_origin_tracking_saved_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_tracking_saved_depth)
        self._coroutine_origin_tracking_enabled = enabled

    # -- exception handler API (asyncio) -----------------------------------------

    def get_exception_handler(self) -> _ExceptionHandler | None:
        """Returns the handler set with `set_exception_handler`, or None."""
        return self._exception_handler

    def set_exception_handler(self, handler: _ExceptionHandler | None) -> None:
        """Sets the loop's exception handler, as in asyncio.

        `call_exception_handler` calls ``handler(loop, context)`` instead of
        `default_exception_handler`; None restores the default. Raises
        `TypeError` if ``handler`` is neither callable nor None.
        """
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Logs an error report on the ``asyncio`` logger: the default
        exception handler, as asyncio's.

        ``context`` is an asyncio exception context: ``message``, and
        optionally ``exception`` (logged with its traceback) and other keys
        (logged by name). A ``source_traceback`` is shown as where the
        object was created; in debug mode, a report made while a callback
        scheduled through asyncio's API runs also shows where that callback
        was scheduled (``handle_traceback``).
        """
        message = context.get("message")
        if not message:
            message = "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = False
        current = self._current_handle
        if ("source_traceback" not in context and current is not None
                and current._source_traceback):
            context["handle_traceback"] = current._source_traceback
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                tb = "".join(traceback.format_list(value))
                value = "Object created at (most recent call last):\n" + tb.rstrip()
            elif key == "handle_traceback":
                tb = "".join(traceback.format_list(value))
                value = "Handle created at (most recent call last):\n" + tb.rstrip()
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        _asyncio_logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Reports an error: calls the exception handler with ``context``.

        Calls the handler set with `set_exception_handler`, else
        `default_exception_handler`. An exception raised by the handler is
        logged on the ``asyncio`` logger, not propagated (except
        `KeyboardInterrupt` and `SystemExit`), as asyncio does.
        """
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                _asyncio_logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            self._exception_handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                })
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                _asyncio_logger.error("Exception in default exception handler while handling "
                                      "an unexpected error in custom exception handler",
                                      exc_info=True)

    # -- running -----------------------------------------------------------------

    def _check_runnable(self) -> None:
        if self.is_closed():
            raise RuntimeError("IOLoop is closed")
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if asyncio._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def start(self) -> None:
        """Starts the I/O loop.

        The loop runs until `stop()` is called, by a callback or, through
        ``add_callback(loop.stop)``, from another thread; it then returns
        after the current iteration. While it runs, the loop is current in
        this thread (`current()`) and is asyncio's running loop
        (`asyncio.get_running_loop()`). In the main thread it also points
        `signal.set_wakeup_fd` at itself, unless another fd was set there,
        and restores it on return.

        Raises `RuntimeError` if the loop is closed or already running, or
        if another event loop is running in this thread. `KeyboardInterrupt`
        and `SystemExit` raised by a callback propagate out of ``start()``;
        no other callback or due timer is lost, and the loop can be started
        again.
        """
        self._check_runnable()
        state = self._enter_running()
        try:
            self._run()
        finally:
            self._exit_running(state)

    def _enter_running(self) -> Any:
        # What start() and run_once() set up around the engine's run.
        wake = self._unix_wakeup_enter()
        old_current = _current.loop
        _current.loop = self
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        self._thread_id = threading.get_ident()
        self._set_coroutine_origin_tracking(self.get_debug())
        asyncio.events._set_running_loop(self)
        return wake, old_current, old_hooks

    def _exit_running(self, state: Any) -> None:
        wake, old_current, old_hooks = state
        asyncio.events._set_running_loop(None)
        self._thread_id = None
        self._set_coroutine_origin_tracking(False)
        sys.set_asyncgen_hooks(*old_hooks)
        _current.loop = old_current
        self._unix_wakeup_exit(wake)

    def run_forever(self) -> None:
        """Runs the loop until `stop()` is called: asyncio's name for
        `start()` (see there for details)."""
        self.start()

    def run_until_complete(self, future: _AwaitableLike[_T]) -> _T:
        """Runs the loop until ``future`` is done; returns its result.

        ``future`` is a future, a coroutine (run as a task) or another
        awaitable. Its exception, if it fails, is raised here; if it was
        cancelled, `asyncio.CancelledError` is.

        Raises `RuntimeError` if the loop is stopped (`stop()`) before
        ``future`` is done, and for the reasons `start()` does.
        """
        self._check_runnable()
        new_task = not asyncio.isfuture(future)
        # (Generator-based coroutines: before Python 3.12 only.)
        fut = asyncio.ensure_future(future, loop=self)  # type: ignore[arg-type,unused-ignore]
        if new_task:
            # A task made here that is still pending when the loop stops is
            # reported by the RuntimeError below; the caller has no handle
            # on it, so its destruction must not also log "Task was
            # destroyed but it is pending!" (as asyncio).
            fut._log_destroy_pending = False  # type: ignore[attr-defined]
        fut.add_done_callback(_stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and fut.done() and not fut.cancelled():
                # The exception is raised by run_forever: don't also log
                # "Task exception was never retrieved".
                fut.exception()
            raise
        finally:
            fut.remove_done_callback(_stop_when_done)
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    @overload
    def run_sync(self, func: Callable[[], None], timeout: float | None = None) -> None: ...

    @overload
    def run_sync(
        self, func: Callable[[], Awaitable[_T] | concurrent.futures.Future[_T]],
        timeout: float | None = None,
    ) -> _T: ...

    @overload
    def run_sync(
        self, func: Callable[[], Awaitable[_T] | concurrent.futures.Future[_T] | None],
        timeout: float | None = None,
    ) -> _T | None: ...

    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Starts the `IOLoop`, runs the given function, and stops the loop.

        ``func`` is called with no arguments on the loop and must return an
        awaitable (an ``async def`` function returns a coroutine, which is
        run as a task), a `concurrent.futures.Future`, or None. The loop
        runs until that is done, and ``run_sync`` returns its result, or
        raises its exception (also one raised by ``func`` itself). A
        non-None result that is not awaitable is a `TypeError`.

        ``timeout`` is in seconds (None: no limit). When it expires, the
        awaitable is cancelled and `ioloop.TimeoutError` (an
        `asyncio.TimeoutError`, and the builtin `TimeoutError`) is raised.

        Useful in a ``main()`` function::

            async def main():
                ...

            if __name__ == "__main__":
                IOLoop.current().run_sync(main)

        Raises `RuntimeError` if the loop is stopped (`stop()`) before the
        awaitable is done, and for the reasons `start()` does.
        """
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}: {func!r}")
        cell: list[asyncio.Future[Any] | None] = [None]
        timed_out = [False]

        def run() -> None:
            fut: asyncio.Future[Any]
            try:
                result = func()
                if result is None:
                    fut = self.create_future()
                    fut.set_result(None)
                elif isinstance(result, concurrent.futures.Future):
                    fut = asyncio.wrap_future(result, loop=self)
                elif asyncio.isfuture(result) or inspect.isawaitable(result):
                    fut = asyncio.ensure_future(result, loop=self)
                else:
                    raise TypeError(f"run_sync: func must return None or an awaitable, "
                                    f"not {type(result).__name__}")
            except Exception as exc:
                fut = self.create_future()
                fut.set_exception(exc)
            cell[0] = fut
            self.add_future(fut, lambda f: self.stop())

        self.add_callback(run)
        timeout_handle = None
        if timeout is not None:
            def on_timeout() -> None:
                timed_out[0] = True
                fut = cell[0]
                if fut is None or not fut.cancel():
                    self.stop()
            timeout_handle = self.call_later(timeout, on_timeout)
        self.start()
        if timeout_handle is not None:
            self.remove_timeout(timeout_handle)
        fut = cell[0]
        if fut is None or not fut.done() or fut.cancelled():
            if timed_out[0]:
                if fut is not None and not fut.done():
                    fut.cancel()
                raise TimeoutError(f"Operation timed out after {timeout} seconds")
            if fut is not None and fut.cancelled():
                return fut.result()
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    def close(self, all_fds: bool = False) -> None:
        """Closes the `IOLoop`, freeing its resources.

        With ``all_fds=True``, also closes every file descriptor or object
        registered with `add_handler` (see `close_fd`), except an int fd
        whose number now names another file (it was closed and reused
        behind the loop's back). Either way, the loop removes the signal
        handlers set with `add_signal_handler`, stops watching its
        subprocesses, shuts down its default executor without waiting, and
        stops being current and `instance()`.

        The loop must be stopped first: `stop()` must have been called
        *and* `start()` must have returned, so ``close()`` usually comes
        right after ``start()``. Raises `RuntimeError` if the loop is
        running. Closing twice does nothing. After ``close()``,
        `add_callback` is silently ignored; other scheduling methods raise
        `RuntimeError`.

        If closing a registered object raises something other than
        `OSError`, the first such exception is raised once the loop's own
        resources are released.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        self._stop_watchdog()
        self._mark_closed()
        self._close_unix()
        error = None
        try:
            if all_fds:
                # A copy: a close() may remove handlers. The engine leaves out
                # int fds whose number now names another file (closed and
                # reused behind our back): closing those would close a
                # stranger's fd.
                for obj in self._handler_objects():
                    try:
                        self.close_fd(obj)  # type: ignore[arg-type]
                    except Exception as exc:
                        if error is None:
                            error = exc
        finally:
            # Whatever the user's close() did, the loop's own fds go.
            self._close()
            executor = self._default_executor
            self._default_executor = None
            if executor is not None:
                executor.shutdown(wait=False)
            if _current.loop is self:
                _current.loop = None
            with IOLoop._instance_lock:
                if IOLoop._instance is self:
                    IOLoop._instance = None
        if error is not None:
            raise error

    # -- futures, tasks, executors -----------------------------------------------

    def create_future(self) -> asyncio.Future[Any]:
        """Returns a new `asyncio.Future` attached to this loop."""
        return asyncio.Future(loop=self)

    def create_task(self, coro: _CoroutineLike[_T], *, name: object = None,
                    context: Context | None = None, **kwargs: Any) -> asyncio.Task[_T]:
        """Schedules coroutine ``coro`` on the loop; returns its task.

        The task is an `asyncio.Task` named ``name``, or whatever the task
        factory set with `set_task_factory` returns. ``context`` (Python
        3.11+) is the `contextvars.Context` the task runs in, by default a
        copy of the current one. ``eager_start=`` (Python 3.12+) is passed
        on to `asyncio.Task`, other keywords to the task factory.

        Raises `RuntimeError` if the loop is closed, and `TypeError` for an
        argument this Python's `asyncio.Task` does not take.
        """
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        extra: dict[str, Any]
        task: asyncio.Task[_T]
        if self._task_factory is None and context is None and not kwargs:
            # The common call (a server's task per request): no keywords to sort.
            task = asyncio.Task(coro, loop=self, name=name)  # type: ignore[arg-type]
            if task._source_traceback:  # type: ignore[attr-defined]
                del task._source_traceback[-1]  # type: ignore[attr-defined]
            return task
        if self._task_factory is None:
            extra = {}
            if context is not None:
                if not _PY311:
                    raise TypeError("create_task(context=) needs Python 3.11+")
                extra["context"] = context
            if kwargs:
                if not _PY312 or set(kwargs) - {"eager_start"}:
                    raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
                extra.update(kwargs)
            task = asyncio.Task(coro, loop=self, name=name, **extra)  # type: ignore[arg-type]
            if task._source_traceback:  # type: ignore[attr-defined]
                # Debug mode: where the caller made it, not this frame (asyncio).
                del task._source_traceback[-1]  # type: ignore[attr-defined]
        else:
            extra = dict(kwargs)
            if context is not None:
                extra["context"] = context
            # As asyncio: a factory must take the keywords create_task is
            # given, and may return any future-like task (typeshed's
            # create_task promises a Task all the same).
            task = self._task_factory(self, coro, **extra)  # type: ignore[assignment]
            if name is not None:
                task.set_name(name)
        return task

    def set_task_factory(self, factory: _TaskFactory | None) -> None:
        """Sets the factory `create_task` uses, as in asyncio.

        ``factory(loop, coro)`` (plus any keywords given to ``create_task``,
        such as ``context=``) returns a future-like task. None restores the
        default, `asyncio.Task`. Raises `TypeError` if ``factory`` is neither
        callable nor None.
        """
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> _TaskFactory | None:
        """Returns the task factory set with `set_task_factory`, or None."""
        return self._task_factory

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Sets the executor `run_in_executor` uses when given None.

        As asyncio's loop: it must be a `concurrent.futures.ThreadPoolExecutor`
        (`TypeError` otherwise; Python 3.10 accepts another
        `concurrent.futures.Executor` with a `DeprecationWarning`). The loop
        shuts it down on `close()`.
        """
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            if _PY311 or not isinstance(executor, concurrent.futures.Executor):
                raise TypeError(f"executor must be ThreadPoolExecutor instance, "
                                f"not {type(executor).__name__}: {executor!r}")
            import warnings
            warnings.warn("Using the default executor that is not an instance of "
                          "ThreadPoolExecutor is deprecated and will be prohibited "
                          "in Python 3.9", DeprecationWarning, 2)
        self._default_executor = executor

    def run_in_executor(self, executor: concurrent.futures.Executor | None,
                        func: Callable[[Unpack[_Ts]], _T],
                        *args: Unpack[_Ts]) -> asyncio.Future[_T]:
        """Runs ``func(*args)`` in an executor; returns a future for the result.

        ``executor`` None means the loop's default executor: the one given
        to `set_default_executor`, else a `concurrent.futures.ThreadPoolExecutor`
        created on first use. Use `functools.partial` to pass keyword
        arguments to ``func``.

        Raises `RuntimeError` if the loop is closed, or, for the default
        executor, once `shutdown_default_executor` was called; `TypeError`
        if ``func`` is not callable.
        """
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}: {func!r}")
        if executor is None:
            executor = self._default_executor
            if executor is None:
                if self._executor_shutdown_called:
                    raise RuntimeError("Executor shutdown has been called")
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="ioloop")
                self._default_executor = executor
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Shuts down the default executor and waits for its threads.

        The wait happens in a helper thread, so the loop keeps running.
        After ``timeout`` seconds (None: no limit), a `RuntimeWarning` is
        issued and the executor is shut down without waiting. From then on,
        ``run_in_executor(None, ...)`` raises `RuntimeError`.
        `asyncio.run` and `ioloop.run` call this before closing the loop.
        """
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        future = self.create_future()

        def finish() -> None:
            if not future.done():
                future.set_result(None)

        def shutdown() -> None:
            try:
                executor.shutdown(wait=True)
            finally:
                if not self.is_closed():
                    self.call_soon_threadsafe(finish)

        thread = threading.Thread(target=shutdown, name="ioloop-executor-shutdown")
        thread.start()
        try:
            if timeout is None:
                await future
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(future), timeout)
                except asyncio.TimeoutError:
                    import warnings
                    warnings.warn(f"The executor did not finish joining its threads "
                                  f"within {timeout} seconds.", RuntimeWarning, stacklevel=2)
                    executor.shutdown(wait=False)
        finally:
            thread.join(timeout)

    # -- subprocesses ------------------------------------------------------------

    async def _make_subprocess_transport(self, protocol: Any, args: Any, shell: Any,
                                         stdin: Any, stdout: Any, stderr: Any, bufsize: Any,
                                         extra: Any = None, **kwargs: Any) -> Any:
        # ioloop reaps with pidfds; a child watcher that the user installed
        # (Python 3.10-3.13, through ioloop's policy) is consulted as
        # asyncio does, and an inactive one refuses the subprocess.
        watcher = _installed_child_watcher()
        if watcher is None:
            return await super()._make_subprocess_transport(  # type: ignore[no-untyped-call]
                protocol, args, shell, stdin, stdout, stderr, bufsize, extra, **kwargs)
        with watcher as entered:
            # (Before 3.12 asyncio asks what __enter__ returned.)
            if not (watcher if _PY312 else entered).is_active():
                raise RuntimeError("asyncio.get_child_watcher() is not activated, "
                                   "subprocess support is not installed.")
            return await super()._make_subprocess_transport(  # type: ignore[no-untyped-call]
                protocol, args, shell, stdin, stdout, stderr, bufsize, extra, **kwargs)

    # -- name resolution ---------------------------------------------------------

    async def getnameinfo(self, sockaddr: tuple[str, int] | tuple[str, int, int, int],
                          flags: int = 0) -> tuple[str, str]:
        """Resolves a socket address to ``(host, port)`` names.

        Runs `socket.getnameinfo` in the default executor, so the loop is
        not blocked meanwhile. Raises what it raises (`socket.gaierror`).
        """
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    # -- async generators --------------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen: AsyncGenerator[Any, Any]) -> None:
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: AsyncGenerator[Any, Any]) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        """Closes the async generators still open on this loop.

        Calls ``aclose()`` on every asynchronous generator first iterated
        while the loop ran and not finished yet, concurrently; their errors
        go to `call_exception_handler`. `asyncio.run` and `ioloop.run` call
        this before closing the loop.
        """
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await asyncio.gather(*[ag.aclose() for ag in closing],
                                       return_exceptions=True)
        for result, agen in zip(results, closing):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of "
                               f"asynchronous generator {agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })


if TYPE_CHECKING:
    def loop_class(engine: str) -> type[IOLoop]:
        """The `IOLoop` class on the engine called ``engine``."""
        ...
else:
    # At run time the class above is the facade alone; each engine gets a
    # class "IOLoop" made of the facade, that engine's Loop and
    # asyncio.AbstractEventLoop (in this order: the facade's methods win
    # over the engine's, the engine's over asyncio's abstract ones). The
    # default engine's is ioloop.IOLoop; the others are for tests that run
    # both engines in one process. Each is an IOLoop for isinstance() and
    # issubclass(), and they share IOLoop.instance() and the current loop.
    _Facade = IOLoop
    _Facade.__name__ = _Facade.__qualname__ = "_IOLoopFacade"

    class _IOLoopType(type):
        """The metaclass of the IOLoop classes: a loop of any of them is an
        instance of ioloop.IOLoop."""

        def __instancecheck__(cls, obj):
            if cls is IOLoop:
                return cls.__subclasscheck__(type(obj))
            return type.__instancecheck__(cls, obj)

        def __subclasscheck__(cls, sub):
            if cls is IOLoop:
                return any(type.__subclasscheck__(k, sub) for k in list(_loop_classes.values()))
            return type.__subclasscheck__(cls, sub)

    def _make_loop_class(engine):
        namespace = {"__doc__": _Facade.__doc__, "__module__": __name__,
                     "__qualname__": "IOLoop", "_engine": engine}
        return _IOLoopType("IOLoop", (_Facade, engine.Loop, asyncio.AbstractEventLoop),
                           namespace)

    IOLoop = _make_loop_class(_engines.default)
    _loop_classes = {_engines.default.name: IOLoop}
    _loop_classes_lock = threading.Lock()

    def loop_class(engine):
        """The `IOLoop` class on the engine called ``engine`` (``"cython"``
        or ``"python"``): ``ioloop.IOLoop`` for the default engine, else a
        class made once, on first use. Raises as `_engines.get`."""
        cls = _loop_classes.get(engine)
        if cls is None:
            eng = _engines.get(engine)
            with _loop_classes_lock:
                cls = _loop_classes.get(engine)
                if cls is None:
                    cls = _loop_classes[engine] = _make_loop_class(eng)
        return cls


def _asyncio_api(engine: _engines.Engine, report: object) -> bool:
    """Whether the engine's ``report`` is a handle made by asyncio's API."""
    if isinstance(report, engine.Handle):
        return True
    return isinstance(report, engine.TimerHandle) and report._asyncio_api


def _installed_child_watcher() -> Any:
    """The child watcher set through ioloop's policy, if any."""
    policy = getattr(asyncio.events, "_event_loop_policy", None)
    if policy is None:
        return None
    from ._asyncio import EventLoopPolicy
    if EventLoopPolicy is None or not isinstance(policy, EventLoopPolicy):
        return None
    return policy._watcher


def _format_handle(engine: _engines.Engine, handle: Handle | TimerHandle, callback: Any,
                   args: Any) -> str:
    # asyncio's base_events._format_handle: a task step is named by its task.
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return repr(owner)
    text = str(handle)
    if callback is not None and handle.cancelled() and _common.debug_kept_repr(handle) is None:
        # Cancelled while it ran (a reader that removed itself), outside
        # debug mode when it was made: name the callback all the same.
        kind = type(handle).__name__
        when = handle.when() if isinstance(handle, engine.TimerHandle) else None
        text = _common.handle_repr(handle, kind, True, callback, args, when)
    return text


def _stop_when_done(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # run_until_complete re-raises it; don't stop the loop here.
            return
    fut.get_loop().stop()

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

import asyncio
import concurrent.futures
import inspect
import logging
import os
import signal
import socket
import sys
import threading
import weakref
from typing import TYPE_CHECKING

__all__ = ["IOLoop", "TimeoutError", "implementation"]


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


if TYPE_CHECKING:
    # Type checkers see the pure-Python twin (the stub _core.pyi matches it).
    from ._engine_py import Handle, Loop as _Engine, TimerHandle
    implementation: str
elif _env_flag("IOLOOP_NO_EXTENSIONS"):
    from ._engine_py import Handle, Loop as _Engine, TimerHandle
    implementation = "python"
else:
    try:
        from ._core import Handle, Loop as _Engine, TimerHandle
        implementation = "cython"
    except ImportError as _core_error:
        # setup.py records in the built package (not in a source tree)
        # whether it built the extension, and why not.
        try:
            from ._build_info import EXTENSION_ERROR as _build_error
            _built = _build_error is None
        except ImportError:
            _build_error = _built = None
        if _build_error is not None:
            _why = ("the extension was not built when this copy of ioloop was installed "
                    f"({_build_error})")
        elif _built:
            _why = f"the extension was built but cannot be imported ({_core_error})"
        else:
            _why = f"{_core_error} (in {os.path.dirname(__file__)})"
        if _env_flag("IOLOOP_REQUIRE_EXTENSIONS"):
            raise ImportError(
                "IOLOOP_REQUIRE_EXTENSIONS=1, but ioloop's compiled engine "
                f"ioloop._core is missing: {_why}.\n"
                "To fix it: install a binary wheel (pip install --force-reinstall "
                "--only-binary ioloop-epoll ioloop-epoll); or build from source with "
                "a C compiler and the Python headers installed (pip install "
                "--force-reinstall --no-cache-dir --no-binary ioloop-epoll "
                "ioloop-epoll, or `pip install .` / `python setup.py build_ext "
                "--inplace` in a checkout); or unset IOLOOP_REQUIRE_EXTENSIONS "
                "to run on the pure-Python engine.",
                name="ioloop._core",
            ) from _core_error
        if _built is not None:
            # A built package without its engine is an install problem the
            # user should hear about; a source tree without one is not.
            import warnings
            warnings.warn(
                f"ioloop is running on its slower pure-Python engine, because {_why}. "
                "Reinstall with a C compiler and the Python headers, or from a wheel; "
                "set IOLOOP_NO_EXTENSIONS=1 to choose the pure-Python engine and "
                "silence this warning.",
                RuntimeWarning,
            )
        del _build_error, _built, _why
        from ._engine_py import Handle, Loop as _Engine, TimerHandle
        implementation = "python"

from ._net import NetMixin
from ._unix import UnixMixin

logger = logging.getLogger("ioloop")
_asyncio_logger = logging.getLogger("asyncio")

if issubclass(asyncio.TimeoutError, TimeoutError):  # Python 3.11+
    TimeoutError = asyncio.TimeoutError
else:  # pragma: no cover - Python 3.10
    class TimeoutError(asyncio.TimeoutError, TimeoutError):  # type: ignore[no-redef,misc]
        """Raised by ``run_sync`` on timeout (both asyncio's and the builtin)."""

_PY311 = sys.version_info >= (3, 11)
_PY312 = sys.version_info >= (3, 12)


class _Current(threading.local):
    loop = None


_current = _Current()


class IOLoop(UnixMixin, NetMixin, _Engine, asyncio.AbstractEventLoop):  # type: ignore[misc]
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

    Only ``add_callback`` (and ``call_soon_threadsafe``) may be called from
    another thread.
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

    _instance = None
    _instance_lock = threading.Lock()

    def __init__(self, make_current=False):
        """Create a loop. It becomes current only with ``make_current=True``
        (or while it runs)."""
        super().__init__()
        self._thread_id = None
        self._exception_handler = None
        self._default_executor = None
        self._executor_shutdown_called = False
        self._task_factory = None
        self._asyncgens = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        # Tasks made from awaitables returned by callbacks: keep them alive.
        self._callback_tasks = set()
        debug_mode = getattr(asyncio.coroutines, "_is_debug_mode", None)
        if debug_mode is not None and debug_mode():
            self.set_debug(True)
        if make_current:
            if IOLoop.current(instance=False) is not None:
                raise RuntimeError("current IOLoop already exists")
            self.make_current()

    def __repr__(self):
        return (f"<{type(self).__name__} engine={implementation} "
                f"running={self.is_running()} closed={self.is_closed()}>")

    # -- instance / current ------------------------------------------------------

    @staticmethod
    def instance():
        """The process-wide singleton, created on first use (thread-safe)."""
        inst = IOLoop._instance
        if inst is None:
            with IOLoop._instance_lock:
                inst = IOLoop._instance
                if inst is None:
                    inst = IOLoop._instance = IOLoop()
        return inst

    @staticmethod
    def initialized():
        return IOLoop._instance is not None

    def install(self):
        """Make this loop the singleton returned by ``instance()``."""
        with IOLoop._instance_lock:
            if IOLoop._instance is not None and IOLoop._instance is not self:
                raise RuntimeError("IOLoop.instance() already exists")
            IOLoop._instance = self

    @staticmethod
    def clear_instance():
        with IOLoop._instance_lock:
            IOLoop._instance = None

    @staticmethod
    def current(instance=True):
        """The loop current in this thread: the running one, else the one
        made current, else ``instance()`` (or None if ``instance`` is false)."""
        running = asyncio._get_running_loop()
        if isinstance(running, IOLoop):
            return running
        cur = _current.loop
        if cur is not None:
            return cur
        if instance:
            return IOLoop.instance()
        return None

    def make_current(self):
        _current.loop = self

    @staticmethod
    def clear_current():
        _current.loop = None

    # -- fd helpers (Tornado 4) --------------------------------------------------

    @staticmethod
    def split_fd(fd):
        """``(fd_number, obj)`` for an int or an object with ``fileno()``."""
        try:
            return fd.fileno(), fd
        except AttributeError:
            return fd, fd

    @staticmethod
    def close_fd(fd):
        """Close an int fd, an object with ``close()``, or one with only
        ``fileno()``; ignores OSError."""
        try:
            if hasattr(fd, "close"):
                fd.close()
            elif hasattr(fd, "fileno"):
                os.close(fd.fileno())
            else:
                os.close(fd)
        except OSError:
            pass

    # -- callbacks ---------------------------------------------------------------

    def add_callback_from_signal(self, callback, *args, **kwargs):
        """``add_callback`` for Python signal handlers (they run between
        bytecodes of the main thread, which the engine tolerates)."""
        self.add_callback(callback, *args, **kwargs)

    def spawn_callback(self, callback, *args, **kwargs):
        """Like ``add_callback``."""
        self.add_callback(callback, *args, **kwargs)

    def add_future(self, future, callback):
        """Call ``callback(future)`` on the loop, on a later iteration, once
        ``future`` (asyncio or concurrent.futures) is done."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if isinstance(future, concurrent.futures.Future):
            future.add_done_callback(lambda f: self.add_callback(callback, f))
        elif asyncio.isfuture(future):
            future.add_done_callback(lambda f: self.add_callback(callback, f))
        else:
            raise TypeError(f"future must be an asyncio or concurrent.futures Future, "
                            f"not {type(future).__name__}: {future!r}")

    def _handle_callback_result(self, result):
        # A callback that returns an awaitable has it run to completion, and
        # its exception reported (Tornado's _run_callback). Anything else is
        # ignored -- in particular {} or [] (tornado#1803).
        if asyncio.isfuture(result) or inspect.isawaitable(result):
            try:
                fut = asyncio.ensure_future(result, loop=self)
            except (TypeError, ValueError):
                return
            self._callback_tasks.add(fut)
            fut.add_done_callback(self._callback_task_done)

    def _callback_task_done(self, fut):
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

    def handle_callback_exception(self, callback):
        """Called with the failing callback (or handler) while its exception
        is being handled (``sys.exc_info()``). The default hands it to
        ``call_exception_handler``, which logs it to the ``ioloop`` logger."""
        exc = sys.exc_info()[1]
        self.call_exception_handler({
            "message": f"Exception in callback {callback!r}",
            "exception": exc,
            "handle": callback,
        })

    # The engine calls the next three (its only calls into the facade).

    def _report_exception(self, report):
        # Called while the callback's exception is being handled.
        try:
            self.handle_callback_exception(report)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            logger.error("Exception in handle_callback_exception for %r",
                         report, exc_info=True)

    def _check_slow(self, callback, t0):
        # Debug mode: name the slow callback as asyncio does (a task step is
        # named by its task, hence its coroutine).
        dt = self.time() - t0
        if dt >= self.slow_callback_duration:
            owner = getattr(callback, "__self__", None)
            what = owner if isinstance(owner, asyncio.Task) else callback
            logger.warning("Executing %r took %.3f seconds", what, dt)

    # -- exception handler API (asyncio) -----------------------------------------

    def get_exception_handler(self):
        return self._exception_handler

    def set_exception_handler(self, handler):
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context):
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = False
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            lines.append(f"{key}: {context[key]!r}")
        # Reports raised by asyncio's own objects (a task destroyed while
        # pending, a future's exception never retrieved) go to asyncio's
        # logger, where asyncio code and its tests look for them.
        log = _asyncio_logger if ("task" in context or "future" in context) else logger
        log.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
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
                logger.error("Exception in default exception handler while handling "
                             "an unexpected error in custom exception handler",
                             exc_info=True)

    # -- running -----------------------------------------------------------------

    def _check_runnable(self):
        if self.is_closed():
            raise RuntimeError("IOLoop is closed")
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if asyncio._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def start(self):
        """Run until ``stop()``. Makes the loop current (and asyncio's running
        loop) for its duration; in the main thread, points
        ``signal.set_wakeup_fd`` at the loop unless another one was set."""
        self._check_runnable()
        wake = self._unix_wakeup_enter()
        old_current = _current.loop
        _current.loop = self
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        self._thread_id = threading.get_ident()
        asyncio.events._set_running_loop(self)
        try:
            self._run()
        finally:
            asyncio.events._set_running_loop(None)
            self._thread_id = None
            sys.set_asyncgen_hooks(*old_hooks)
            _current.loop = old_current
            self._unix_wakeup_exit(wake)

    def run_forever(self):
        """asyncio's name for ``start()``."""
        self.start()

    def run_until_complete(self, future):
        self._check_runnable()
        new_task = not asyncio.isfuture(future)
        future = asyncio.ensure_future(future, loop=self)
        if new_task:
            # A task made here that is still pending when the loop stops is
            # reported by the RuntimeError below; the caller has no handle
            # on it, so its destruction must not also log "Task was
            # destroyed but it is pending!" (as asyncio).
            future._log_destroy_pending = False
        future.add_done_callback(_stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                # The exception is raised by run_forever: don't also log
                # "Task exception was never retrieved".
                future.exception()
            raise
        finally:
            future.remove_done_callback(_stop_when_done)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def run_sync(self, func, timeout=None):
        """Run ``func`` (plain, returning an awaitable, or ``async def``) on
        the loop and return its result. ``timeout`` (seconds): on expiry the
        operation is cancelled and ``TimeoutError`` raised."""
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}: {func!r}")
        cell = [None]
        timed_out = [False]

        def run():
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
            def on_timeout():
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

    def close(self, all_fds=False):
        """Release the loop's resources. Not while running. With
        ``all_fds=True``, also closes every fd/object given to
        ``add_handler``. Idempotent; later ``add_callback`` calls are
        dropped."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
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
                        self.close_fd(obj)
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

    def create_future(self):
        return asyncio.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None, **kwargs):
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
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
            task = asyncio.Task(coro, loop=self, name=name, **extra)
        else:
            extra = dict(kwargs)
            if context is not None:
                extra["context"] = context
            task = self._task_factory(self, coro, **extra)
            if name is not None:
                task.set_name(name)
        return task

    def set_task_factory(self, factory):
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self):
        return self._task_factory

    def set_default_executor(self, executor):
        self._default_executor = executor

    def run_in_executor(self, executor, func, *args):
        """Run ``func(*args)`` in ``executor`` (None: the default thread pool)
        and return an asyncio future for its result."""
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

    async def shutdown_default_executor(self, timeout=None):
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        future = self.create_future()

        def shutdown():
            try:
                executor.shutdown(wait=True)
            finally:
                if not self.is_closed():
                    self.call_soon_threadsafe(
                        lambda: future.done() or future.set_result(None))

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

    # -- name resolution ---------------------------------------------------------

    async def getnameinfo(self, sockaddr, flags=0):
        """``socket.getnameinfo`` off the loop thread."""
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    # -- async generators --------------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen):
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen):
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self):
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


def _stop_when_done(fut):
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # run_until_complete re-raises it; don't stop the loop here.
            return
    fut.get_loop().stop()

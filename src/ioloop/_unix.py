"""Unix-specific half of the asyncio loop: signal handlers, pipes and
subprocesses. Mixed into ``ioloop.IOLoop``.

Semantics follow ``asyncio.unix_events._UnixSelectorEventLoop``:

- ``add_signal_handler`` points ``signal.set_wakeup_fd`` at the loop's
  signal pipe and installs a no-op Python handler; CPython's C-level
  handler writes the signal number into the pipe and the engine hands the
  bytes to ``_process_signals``, which schedules the registered callback
  with ``call_soon`` in the context captured when it was added.
- Pipe transports are asyncio's: ``connection_made`` is scheduled with
  ``call_soon`` and reading starts after it; ``connection_lost`` is called
  exactly once; the write pipe watches its fd for readability to learn
  that the reader went away. As on uvloop, every protocol callback runs in
  the context captured when the transport was made.
- Subprocesses reuse ``asyncio.base_subprocess.BaseSubprocessTransport``;
  children are reaped without a SIGCHLD handler: a pidfd
  (``os.pidfd_open``) sits in the loop's reader registry and the exit
  status is collected with ``waitid(P_PIDFD, ..., WNOHANG)``. Where pidfds
  are unavailable a daemon thread waits in ``waitpid``.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import warnings
import contextvars
from typing import TYPE_CHECKING

from asyncio import base_subprocess, coroutines, transports

from ._transports import (LOG_THRESHOLD_FOR_CONNLOST_WRITES, READ_CHUNK, FlowControl,
                          TransportBase, check_buffer_limits, check_data,
                          set_result_unless_cancelled)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Mapping
    from typing import IO, Any, Literal, TypeAlias, TypeVar

    from typing_extensions import TypeVarTuple, Unpack

    from ._net import _LoopBase

    _ProtocolT = TypeVar("_ProtocolT", bound=asyncio.BaseProtocol)
    _Ts = TypeVarTuple("_Ts")
    # add_signal_handler's callback, its arguments and its context.
    _SignalEntry: TypeAlias = tuple[Callable[..., object], tuple[Any, ...], contextvars.Context]
else:
    _LoopBase = object

logger = logging.getLogger("ioloop")


def _sighandler_noop(signum, frame):
    """Python-level handler: its presence makes CPython's C handler write
    the signal number to the wakeup fd; the work happens on the loop."""


def _can_use_pidfd():
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid(), 0))
    except OSError:  # old kernel, or blocked by seccomp
        return False
    return True


_USE_PIDFD = _can_use_pidfd()
# waitid(P_PIDFD) (Linux 5.4+) reaps exactly the process the pidfd names,
# even if its pid number was reused; waitpid() is the fallback.
_USE_WAITID_PIDFD = _USE_PIDFD and hasattr(os, "P_PIDFD")


def _waitstatus_to_exitcode(status):
    try:
        return os.waitstatus_to_exitcode(status)
    except ValueError:
        return status


# -- pipe transports ----------------------------------------------------------------------


class _PipeBase(TransportBase):
    """What both pipe transports share beyond `TransportBase`: the pipe,
    its fd, and the repr's polling state."""

    if TYPE_CHECKING:
        _quiet_oserror: bool

        def _polling(self) -> bool: ...
        def _close(self, exc: BaseException | None) -> None: ...
        def _read_ready(self) -> None: ...

    _resource_name = "_pipe"
    _fatal_message = "Fatal error on pipe transport"

    def _read_in_context(self):
        # The fd's reader: the protocol's callbacks run in the transport's
        # context. (A method of the transport, so that registered_fds() and
        # the watchdog name the transport.)
        self._context.run(self._read_ready)

    def _init_pipe(self, loop, pipe, protocol, kind_ok, what):
        self._extra["pipe"] = pipe
        # Every protocol callback runs in this context (uvloop's rule).
        self._context = contextvars.copy_context()
        self._loop = loop
        self._pipe = pipe
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._closing = False
        self._lost_scheduled = False
        mode = os.fstat(self._fileno).st_mode
        if not kind_ok(mode):
            self._pipe = None
            self._fileno = None
            self._protocol = None
            raise ValueError(what)
        os.set_blocking(self._fileno, False)
        return mode

    def _repr_fd(self):
        return self._fileno

    def _repr_extra(self, info):
        loop = self._loop
        if self._pipe is not None and loop is not None and not loop.is_closed():
            info.append("polling" if self._polling() else "idle")
            bufsize = self._repr_bufsize()
            if bufsize is not None:
                info.append(f"bufsize={bufsize}")
        elif self._pipe is not None:
            info.append("open")
        else:
            info.append("closed")

    def _repr_bufsize(self):
        return None

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def _quiet_error(self, exc):
        # EIO (a pty whose other side closed) and, for the write side, any
        # OSError are the peer going away: no report.
        return isinstance(exc, OSError) and (exc.errno == errno.EIO or self._quiet_oserror)

    def _force_close(self, exc):
        self._close(exc)

    def _schedule_connection_lost(self, exc):
        if self._lost_scheduled:
            return
        self._lost_scheduled = True
        self._loop.call_soon(self._call_connection_lost, exc, context=self._context)

    def _connection_lost_done(self):
        self._pipe.close()
        self._pipe = None
        self._protocol = None
        self._loop = None


class ReadPipeTransport(_PipeBase, transports.ReadTransport):
    """Read end of a pipe, FIFO, socket or character device."""

    max_size = READ_CHUNK  # bytes read per readiness event
    _quiet_oserror = False

    def __init__(self, loop: Any, pipe: Any, protocol: Any,
                 waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(extra)
        self._paused = False
        self._reading_started = False
        self._init_pipe(
            loop, pipe, protocol,
            lambda m: stat.S_ISFIFO(m) or stat.S_ISSOCK(m) or stat.S_ISCHR(m),
            "Pipe transport is for pipes/sockets only.")
        loop.call_soon(self._protocol.connection_made, self, context=self._context)
        # Read only once connection_made() has run.
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _start_reading(self):
        self._reading_started = True
        if self.is_reading():
            self._loop.add_reader(self._fileno, self._read_in_context)

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def _polling(self):
        return self._reading_started and self.is_reading()

    def _read_ready(self):
        try:
            data = os.read(self._fileno, self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if data:
            self._protocol.data_received(data)
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._closing = True
        self._loop.remove_reader(self._fileno)
        self._loop.call_soon(self._protocol.eof_received, context=self._context)
        self._schedule_connection_lost(None)

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._loop.remove_reader(self._fileno)
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop.add_reader(self._fileno, self._read_in_context)
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def close(self) -> None:
        if not self._closing:
            self._close(None)

    def abort(self) -> None:
        self.close()

    def _close(self, exc):
        self._closing = True
        self._loop.remove_reader(self._fileno)
        self._schedule_connection_lost(exc)


class WritePipeTransport(_PipeBase, FlowControl, transports.Transport):
    """Write end of a pipe, FIFO, socket or character device, with
    asyncio's write buffering and flow control.

    A ``Transport``, as asyncio's is: the reading methods
    (``pause_reading``, ``resume_reading``, ``is_reading``) raise
    `NotImplementedError`."""

    # Write errors mean the reader went away: connection_lost(exc), no log.
    _quiet_oserror = True

    def __init__(self, loop: Any, pipe: Any, protocol: Any,
                 waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(extra)
        self._buffer = bytearray()
        self._conn_lost = 0
        self._protocol_paused = False
        self._high_water, self._low_water = check_buffer_limits(None, None)
        mode = self._init_pipe(
            loop, pipe, protocol,
            lambda m: stat.S_ISFIFO(m) or stat.S_ISSOCK(m) or stat.S_ISCHR(m),
            "Pipe transport is only for pipes, sockets and character devices")
        loop.call_soon(self._protocol.connection_made, self, context=self._context)
        # The write end of a pipe (or a socket) becomes "readable" (EPOLLERR,
        # or EOF for a socket) when the reader closes: watch for it, once
        # connection_made() has run.
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            loop.call_soon(self._watch_reader)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _watch_reader(self):
        # Not once closed meanwhile with nothing left to flush (asyncio
        # would register the fd after close() removed it).
        if self._lost_scheduled or (self._closing and not self._buffer):
            return
        self._loop.add_reader(self._fileno, self._read_in_context)

    def _repr_bufsize(self):
        return len(self._buffer)

    def _polling(self):
        return bool(self._buffer)  # the writer is registered

    # -- flow control

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def _read_ready(self):
        # The reader closed its end.
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        if self._buffer:
            self._close(BrokenPipeError())
        else:
            self._close()

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        check_data(data)
        if isinstance(data, bytearray):
            data = memoryview(data)
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            # Try at once.
            try:
                n = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            if n > 0:
                data = memoryview(data)[n:]
            self._loop.add_writer(self._fileno, self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self):
        if not self._buffer:
            return
        try:
            n = os.write(self._fileno, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._buffer.clear()
            self._conn_lost += 1
            self._loop.remove_writer(self._fileno)
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        if n == len(self._buffer):
            self._buffer.clear()
            self._loop.remove_writer(self._fileno)
            self._maybe_resume_protocol()  # may write more
            if self._closing and not self._buffer:
                self._loop.remove_reader(self._fileno)
                self._schedule_connection_lost(None)
            return
        if n > 0:
            del self._buffer[:n]

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            self._loop.remove_reader(self._fileno)
            self._schedule_connection_lost(None)

    def close(self) -> None:
        if self._pipe is not None and not self._closing:
            # A pipe has no half-close: EOF once the buffer is flushed.
            self.write_eof()

    def abort(self) -> None:
        self._close(None)

    def _close(self, exc=None):
        self._closing = True
        if self._lost_scheduled:
            return
        if self._buffer:
            self._loop.remove_writer(self._fileno)
        self._buffer.clear()
        self._loop.remove_reader(self._fileno)
        self._schedule_connection_lost(exc)


# -- subprocess transport -----------------------------------------------------------------


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport; the child is started here.

    ``process_exited`` runs in the context captured when the transport was
    made (as uvloop), like the pipe protocols' callbacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._context = contextvars.copy_context()
        super().__init__(*args, **kwargs)

    def _start(self, args, shell, stdin, stdout, stderr, bufsize, **kwargs):
        self._proc = subprocess.Popen(
            args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
            universal_newlines=False, bufsize=bufsize, **kwargs)


def _reap(pid, pidfd, proc):
    """Exit code of the child if it has exited (and reap it), else None.
    Never blocks."""
    try:
        if pidfd is not None and _USE_WAITID_PIDFD:
            try:
                info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                raise
            except OSError:
                pass  # EINVAL: a kernel without P_PIDFD; waitpid() below
            else:
                if info is None or info.si_pid == 0:
                    return None
                if info.si_code == os.CLD_EXITED:
                    return info.si_status
                return -info.si_status
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == 0:
            return None
        return _waitstatus_to_exitcode(status)
    except ChildProcessError:
        # Reaped elsewhere (Popen.poll()/wait() on the transport's process).
        if proc is not None and proc.returncode is not None:
            return proc.returncode
        logger.warning("child process pid %d exit status already read: "
                       "will report returncode 255", pid)
        return 255


# -- the mixin ----------------------------------------------------------------------------


class UnixMixin(_LoopBase):
    """``add_signal_handler``/``remove_signal_handler``, ``connect_read_pipe``,
    ``connect_write_pipe``, ``subprocess_exec``/``subprocess_shell``.

    State lives in the instance ``__dict__``, created on first use (the
    engine's ``__init__`` is not involved).
    """

    # -- lazily created state

    @property
    def _signal_handlers(self) -> dict[int, _SignalEntry]:
        """{signum: (callback, args, context)}."""
        try:
            return self.__dict__["_unix_signal_handlers"]
        except KeyError:
            d = self.__dict__["_unix_signal_handlers"] = {}
            return d

    @property
    def _unix_children(self) -> dict[int, tuple[int, SubprocessTransport]]:
        """{pidfd: (pid, transport)} for children watched by pidfd."""
        try:
            return self.__dict__["_unix_children_map"]
        except KeyError:
            d = self.__dict__["_unix_children_map"] = {}
            return d

    # -- signals

    def _check_signal(self, sig: int) -> None:
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def add_signal_handler(self, sig: int, callback: Callable[[Unpack[_Ts]], object],
                           *args: Unpack[_Ts]) -> None:
        """Calls ``callback(*args)`` on the loop whenever signal ``sig``
        arrives.

        The callback runs as an ordinary loop callback (not inside a Python
        signal handler), in the `contextvars` context current when it was
        added. A signal that arrives while the loop is not running is
        handled when it runs again. A new handler for ``sig`` replaces the
        old one. The loop points `signal.set_wakeup_fd` at itself for as
        long as it has signal handlers; `close()` removes them all.

        Main thread only. Raises `RuntimeError` in another thread, if the
        loop is closed, or if ``sig`` cannot be caught (``SIGKILL``,
        ``SIGSTOP``); `TypeError` if ``callback`` is a coroutine function
        or not callable, or ``sig`` is not an int; `ValueError` if ``sig``
        is not a valid signal number.
        """
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by add_signal_handler(), "
                            f"got {callback!r}")
        fd = self._signal_wakeup_fd()
        try:
            # Raises ValueError outside the main thread: checked first, so a
            # loop in another thread cannot add a handler.
            signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        self.__dict__["_unix_wakeup_fd"] = fd

        handlers = self._signal_handlers
        handlers[sig] = (callback, args, contextvars.copy_context())
        try:
            signal.signal(sig, _sighandler_noop)
            # SA_RESTART: fewer EINTRs for the rest of the program.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del handlers[sig]
            if not handlers:
                self._unix_release_wakeup()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught")
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        """Removes the handler added for ``sig`` with `add_signal_handler`.

        Returns True if there was one, else False. The signal goes back to
        its default disposition (for ``SIGINT``, raising
        `KeyboardInterrupt`). Main thread only. Raises `TypeError` or
        `ValueError` for a bad ``sig``, as `add_signal_handler` does.
        """
        self._check_signal(sig)
        handlers = self._signal_handlers
        try:
            del handlers[sig]
        except KeyError:
            return False
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught")
            raise
        if not handlers:
            self._unix_release_wakeup()
        return True

    def _unix_release_wakeup(self) -> None:
        # Back to "no wakeup fd" (as asyncio does), but only if the wakeup
        # fd is still ours: another loop may have taken it since.
        fd = self.__dict__.pop("_unix_wakeup_fd", None)
        if fd is None:
            return
        try:
            current = signal.set_wakeup_fd(-1)
            if current != fd:
                signal.set_wakeup_fd(current)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(-1) failed: %s", exc)

    def _unix_owns_wakeup(self) -> bool:
        """True while add_signal_handler has the wakeup fd pointed at this
        loop: start() must then leave it in place when it returns, so
        signals that arrive while the loop is stopped are delivered on the
        next run (as with asyncio, which never touches it in run_forever)."""
        return "_unix_wakeup_fd" in self.__dict__

    def _unix_wakeup_enter(self) -> int | None:
        """For ``start()``: in the main thread, point the wakeup fd at this
        loop unless another one is set (Twisted, a test, another loop).
        Returns a token for ``_unix_wakeup_exit``."""
        if threading.current_thread() is not threading.main_thread():
            return None
        fd = self._signal_wakeup_fd()
        try:
            old = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
        except ValueError:
            return None
        if old == -1:
            return fd  # ours to undo when start() returns
        if old != fd:
            signal.set_wakeup_fd(old)  # someone else's: leave it
        return None  # already ours (add_signal_handler): keep it

    def _unix_wakeup_exit(self, token: int | None) -> None:
        """For ``start()``'s exit: undo ``_unix_wakeup_enter`` unless signal
        handlers still need the wakeup fd (signals that arrive while the
        loop is stopped are then delivered on the next run, as on asyncio's
        loop)."""
        if token is None or self._unix_owns_wakeup():
            return
        try:
            current = signal.set_wakeup_fd(-1)
            if current != token:
                signal.set_wakeup_fd(current)
        except (ValueError, OSError):
            pass

    def _process_signals(self, data):
        """Signal numbers (one byte each) read from the wakeup fd."""
        handlers = self._signal_handlers
        for signum in data:
            entry = handlers.get(signum)
            if entry is None:
                continue  # not ours, or removed since (or a NUL byte)
            callback, args, context = entry
            self.call_soon(callback, *args, context=context)

    # -- pipes

    async def connect_read_pipe(self, protocol_factory: Callable[[], _ProtocolT],
                                pipe: Any) -> tuple[asyncio.ReadTransport, _ProtocolT]:
        """Wraps ``pipe``, the read end of a pipe, FIFO, socket or character
        device (a file object: anything with ``fileno()``), in a transport;
        returns ``(transport, protocol)``.

        The fd is made non-blocking. The protocol gets ``data_received``
        calls, ``eof_received`` and ``connection_lost`` when the writer
        closes its end; closing the transport closes ``pipe``. Raises
        `ValueError` for another kind of file.
        """
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = ReadPipeTransport(self, pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if self.get_debug():
            logger.debug("Read pipe %r connected: (%r, %r)", pipe.fileno(), transport, protocol)
        return transport, protocol

    async def connect_write_pipe(self, protocol_factory: Callable[[], _ProtocolT],
                                 pipe: Any) -> tuple[asyncio.WriteTransport, _ProtocolT]:
        """Wraps ``pipe``, the write end of a pipe, FIFO, socket or
        character device (a file object: anything with ``fileno()``), in a
        transport; returns ``(transport, protocol)``.

        The fd is made non-blocking. Writes are buffered with asyncio's
        flow control (``pause_writing``/``resume_writing``); the protocol's
        ``connection_lost`` is called when the reader closes its end.
        Closing the transport closes ``pipe`` once the buffer is written.
        Raises `ValueError` for another kind of file.
        """
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = WritePipeTransport(self, pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if self.get_debug():
            logger.debug("Write pipe %r connected: (%r, %r)", pipe.fileno(), transport, protocol)
        return transport, protocol

    # -- subprocesses

    async def subprocess_shell(
            self, protocol_factory: Callable[[], _ProtocolT], cmd: bytes | str, *,
            stdin: int | IO[Any] | None = subprocess.PIPE,
            stdout: int | IO[Any] | None = subprocess.PIPE,
            stderr: int | IO[Any] | None = subprocess.PIPE,
            universal_newlines: Literal[False] = False, shell: Literal[True] = True,
            bufsize: Literal[0] = 0, encoding: None = None, errors: None = None,
            text: Literal[False] | None = None,
            **kwargs: Any) -> tuple[asyncio.SubprocessTransport, _ProtocolT]:
        """Runs the shell command ``cmd`` in a subprocess; returns
        ``(transport, protocol)``, as `subprocess_exec`.

        Quote what goes into ``cmd`` (`shlex.quote`): the shell interprets
        it. Raises `ValueError` if ``cmd`` is not a str or bytes.
        """
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if not shell:
            raise ValueError("shell must be True")
        if bufsize != 0:
            raise ValueError("bufsize must be 0")
        if text:
            raise ValueError("text must be False")
        if encoding is not None:
            raise ValueError("encoding must be None")
        if errors is not None:
            raise ValueError("errors must be None")
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(
            protocol, cmd, True, stdin, stdout, stderr, bufsize, **kwargs)
        if self.get_debug():
            # Not the command: it may hold secrets.
            logger.info("run shell command: %r", transport)
        return transport, protocol

    async def subprocess_exec(
            self, protocol_factory: Callable[[], _ProtocolT], program: Any, *args: Any,
            stdin: int | IO[Any] | None = subprocess.PIPE,
            stdout: int | IO[Any] | None = subprocess.PIPE,
            stderr: int | IO[Any] | None = subprocess.PIPE,
            universal_newlines: Literal[False] = False, shell: Literal[False] = False,
            bufsize: Literal[0] = 0, encoding: None = None, errors: None = None,
            text: Literal[False] | None = None,
            **kwargs: Any) -> tuple[asyncio.SubprocessTransport, _ProtocolT]:
        """Runs ``program`` with arguments ``args`` in a subprocess;
        returns ``(transport, protocol)`` once it has started.

        ``stdin``, ``stdout`` and ``stderr`` are as for `subprocess.Popen`
        (default: pipes, connected to the loop: the protocol, usually an
        `asyncio.SubprocessProtocol`, gets the output, and
        ``transport.get_pipe_transport(0)`` writes to the child's stdin);
        other keywords go to `subprocess.Popen`. The pipes are bytes only:
        ``universal_newlines``, ``text``, ``encoding``, ``errors``,
        ``shell`` and ``bufsize`` must keep their defaults (`ValueError`
        otherwise).

        The loop learns that the child exited from a pidfd it watches (no
        ``SIGCHLD`` handler or child watcher), or, where pidfds are not
        available, from a thread waiting in `os.waitpid`.
        """
        if universal_newlines:
            raise ValueError("universal_newlines must be False")
        if shell:
            raise ValueError("shell must be False")
        if bufsize != 0:
            raise ValueError("bufsize must be 0")
        if text:
            raise ValueError("text must be False")
        if encoding is not None:
            raise ValueError("encoding must be None")
        if errors is not None:
            raise ValueError("errors must be None")
        popen_args = (program,) + args
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(
            protocol, popen_args, False, stdin, stdout, stderr, bufsize, **kwargs)
        if self.get_debug():
            logger.info("execute program %r: %r", program, transport)
        return transport, protocol

    async def _make_subprocess_transport(self, protocol, args, shell, stdin, stdout,
                                         stderr, bufsize, extra=None, **kwargs):
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        waiter = self.create_future()
        transp = SubprocessTransport(self, protocol, args, shell, stdin, stdout, stderr,
                                     bufsize, waiter=waiter, extra=extra, **kwargs)
        try:
            self._unix_watch_child(transp)
        except BaseException:
            transp.close()
            raise
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transp.close()
            await transp._wait()
            raise
        return transp

    def _unix_watch_child(self, transp):
        pid = transp.get_pid()
        if _USE_PIDFD:
            try:
                pidfd = os.pidfd_open(pid)  # O_CLOEXEC
            except OSError:
                pidfd = None
            if pidfd is not None:
                try:
                    self._unix_children[pidfd] = (pid, transp)
                    self.add_reader(pidfd, self._unix_child_ready, pidfd)
                except BaseException:
                    self._unix_children.pop(pidfd, None)
                    os.close(pidfd)
                    raise
                return
        self._unix_wait_in_thread(pid, transp)

    def _unix_child_ready(self, pidfd):
        entry = self._unix_children.get(pidfd)
        if entry is None:
            self.remove_reader(pidfd)
            return
        pid, transp = entry
        try:
            returncode = _reap(pid, pidfd, transp._proc)
        except OSError as exc:
            # Never leave a readable pidfd registered (it would spin).
            self.call_exception_handler({
                "message": f"cannot collect the exit status of child process {pid}",
                "exception": exc,
                "transport": transp,
            })
            returncode = 255
        if returncode is None:
            return  # not exited yet after all
        del self._unix_children[pidfd]
        self.remove_reader(pidfd)
        os.close(pidfd)
        if self.get_debug():
            logger.debug("process %s exited with returncode %s", pid, returncode)
        self.call_soon(transp._process_exited, returncode, context=transp._context)

    def _unix_wait_in_thread(self, pid, transp):
        proc = transp._proc

        def wait():
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                returncode = proc.returncode if proc.returncode is not None else 255
                if proc.returncode is None:
                    logger.warning("child process pid %d exit status already read: "
                                   "will report returncode 255", pid)
            else:
                returncode = _waitstatus_to_exitcode(status)
            if self.is_closed():
                if proc.returncode is None:
                    proc.returncode = returncode
                return
            try:
                self.call_soon_threadsafe(transp._process_exited, returncode,
                                          context=transp._context)
            except RuntimeError:  # closed meanwhile
                if proc.returncode is None:
                    proc.returncode = returncode

        thread = threading.Thread(target=wait, name=f"ioloop-waitpid-{pid}", daemon=True)
        thread.start()

    # -- close

    def _close_unix(self) -> None:
        """Called by ``close()``: removes every signal handler (restoring the
        default dispositions and the wakeup fd) and stops watching children
        (a child that already exited is reaped; one still running is left
        to its ``Popen`` object, as with asyncio)."""
        handlers = self._signal_handlers
        if handlers:
            if sys.is_finalizing():
                warnings.warn(f"Closing the loop {self!r} on interpreter shutdown "
                              f"stage, skipping signal handlers removal",
                              ResourceWarning, source=self)
                handlers.clear()
            else:
                for sig in list(handlers):
                    self.remove_signal_handler(sig)
        self._unix_release_wakeup()
        children = self._unix_children
        while children:
            pidfd, (pid, transp) = children.popitem()
            try:
                self.remove_reader(pidfd)
            except Exception:
                pass
            proc = transp._proc
            try:
                returncode = _reap(pid, pidfd, proc)
            except OSError:
                returncode = None
            if returncode is not None and proc is not None and proc.returncode is None:
                proc.returncode = returncode
            os.close(pidfd)

    def __del__(self) -> None:
        # Collected without close(): release what the engine does not know
        # about (the wakeup fd must not keep pointing at a pipe whose
        # number is about to be reused; pidfds must not leak).
        try:
            if not self.is_closed():
                self._close_unix()
        except Exception:
            try:
                self._unix_release_wakeup()
            except Exception:
                pass
        sup = getattr(super(), "__del__", None)
        if sup is not None:
            sup()

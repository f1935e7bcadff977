"""Stream and datagram transports: ioloop's one stream transport and the
Python transports on the loop's reader/writer registry.

`StreamTransport` is the TCP and Unix stream transport of both engines:
its behaviour is written here, once; its hot paths are a core's, chosen by
the loop's engine (``loop._stream_core``): the Cython
``ioloop._core.StreamCore`` with the compiled engine, `StreamCore` (below)
with the pure-Python one. `DatagramTransport` is Python on both engines.
`TransportBase` is what these and the pipe transports (``_unix.py``) share.

Semantics follow asyncio's selector transports (what asyncio code relies
on): ``connection_made`` is scheduled with ``call_soon`` and reading starts
after it; ``connection_lost`` is called exactly once, after the write buffer
is flushed on ``close()`` or at once on ``abort()``/a fatal error; the
protocol's ``pause_writing``/``resume_writing`` follow the high/low water
marks. Where uvloop differs and its way serves users better, ioloop follows
uvloop (docs/behaviour.md lists these): stream writes are queued and sent
once per loop iteration; every protocol callback runs in the context
captured when the transport was made; a protocol with ``get_buffer()`` is
read as a buffered protocol.
"""

from __future__ import annotations

import collections
import contextvars
import errno
import itertools
import logging
import socket
import warnings
from typing import TYPE_CHECKING

from asyncio import constants, protocols, transports, trsock

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable, Mapping
    from typing import Any, TypeVar

    from socket import _Address

    _T = TypeVar("_T")

logger = logging.getLogger("ioloop")

# Every constant of the stream transports, once (the Cython core mirrors
# the first three; tests/test_transport_parity.py checks they agree).
# Same as asyncio: warn about writes to a lost connection after this many.
LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5
# Bytes read per readiness event.
READ_CHUNK = 256 * 1024
# Buffers per sendmsg() (at most IOV_MAX, 1024 on Linux).
IOV_BATCH = 64
# asyncio's default write-buffer limits: the high-water mark, and a quarter
# of it as the low-water mark (check_buffer_limits).
DEFAULT_HIGH_WATER = 64 * 1024


def check_buffer_limits(high: int | None, low: int | None) -> tuple[int, int]:
    """asyncio's water-mark rules; returns (high, low)."""
    if high is None:
        high = DEFAULT_HIGH_WATER if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY on every IPv4/IPv6 stream socket, as uvloop does (asyncio
    skips sockets whose ``proto`` is 0, such as a plain ``socket.socket()``
    and the connections it accepts)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


# What a transport's socket (get_extra_info("socket")) refuses to do: these
# would take the socket away from the transport, or read or write behind it.
_NOT_SUPPORTED = (
    "accept", "connect", "connect_ex", "bind", "listen", "makefile", "sendfile", "close",
    "detach", "shutdown", "sendmsg_afalg", "sendmsg", "sendto", "send", "sendall",
    "recv_into", "recvfrom_into", "recvmsg_into", "recvmsg", "recvfrom", "recv")


def _enum_name(value: object) -> str:
    name = getattr(value, "name", None)
    return f"{type(value).__name__}.{name}" if name else str(value)


class TransportSocket(trsock.TransportSocket):
    """What ``get_extra_info("socket")`` returns: asyncio's
    ``TransportSocket`` (an instance of it), with uvloop's stricter rules.
    The operations that would take the socket away from its transport or
    bypass it (``close``, ``detach``, ``shutdown``, ``send*``, ``recv*``,
    ``accept``, ``connect``...) raise `TypeError`, as does ``with sock:``;
    the inspection and option methods (``getsockname``, ``getpeername``,
    ``getsockopt``, ``setsockopt``, ``fileno``, ``dup``...) work."""

    __slots__ = ()

    def __repr__(self) -> str:
        s = (f"<asyncio.TransportSocket fd={self.fileno()}, "
             f"family={_enum_name(self.family)}, type={_enum_name(self.type)}, "
             f"proto={self.proto}")
        if self.fileno() != -1:
            for what, get in (("laddr", self.getsockname), ("raddr", self.getpeername)):
                try:
                    addr = get()
                except OSError:
                    continue
                if addr:
                    s = f"{s}, {what}={addr}"
        return f"{s}>"

    def __enter__(self) -> TransportSocket:
        raise TypeError("transport sockets do not support the context manager protocol")

    def __exit__(self, *exc_info: object) -> None:
        raise TypeError("transport sockets do not support the context manager protocol")


def _not_supported(name: str) -> Any:
    def method(self: TransportSocket, *args: object, **kwargs: object) -> Any:
        raise TypeError(f"transport sockets do not support {name}() method")
    method.__name__ = method.__qualname__ = name
    return method


for _name in _NOT_SUPPORTED:
    setattr(TransportSocket, _name, _not_supported(_name))
del _name


def set_result_unless_cancelled(fut: asyncio.Future[_T], result: _T) -> None:
    if not fut.cancelled():
        fut.set_result(result)


def check_data(data: object) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data argument must be a bytes-like object, "
                        f"not {type(data).__name__!r}")


class FlowControl:
    """Write-side flow control shared by ioloop's Python transports:
    asyncio's water marks over ``get_write_buffer_size()``. Needs
    ``_loop``, ``_protocol``, ``_high_water``, ``_low_water`` and
    ``_protocol_paused``."""

    if TYPE_CHECKING:
        _loop: Any
        _protocol: Any
        _context: contextvars.Context
        _high_water: int
        _low_water: int
        _protocol_paused: bool

        def get_write_buffer_size(self) -> int: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high_water, self._low_water = check_buffer_limits(high, low)
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    # pause_writing()/resume_writing() run in a copy of the transport's
    # context: they are called from write() and friends, possibly inside a
    # protocol callback already running in that context (which cannot be
    # entered twice).
    def _maybe_pause_protocol(self):
        if self._protocol_paused or self.get_write_buffer_size() <= self._high_water:
            return
        self._protocol_paused = True
        try:
            self._context.copy().run(self._protocol.pause_writing)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": "protocol.pause_writing() failed",
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })

    def _maybe_resume_protocol(self):
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            try:
                self._context.copy().run(self._protocol.resume_writing)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler({
                    "message": "protocol.resume_writing() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                })


def socket_extra(sock: socket.socket, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """A socket transport's extra info: ``extra`` and the socket's."""
    info: dict[str, Any] = {} if extra is None else dict(extra)
    info["socket"] = TransportSocket(sock)
    try:
        info["sockname"] = sock.getsockname()
    except OSError:
        info["sockname"] = None
    if "peername" not in info:
        try:
            info["peername"] = sock.getpeername()
        except OSError:
            info["peername"] = None
    return info


class TransportBase:
    """What every Python transport of ioloop shares (stream, datagram and
    pipe transports): extra info, the protocol, the report of a fatal
    error, the repr, the unclosed-transport warning, ``connection_lost``
    exactly once, and the count of fds Python transports own.

    A subclass names the object it closes (``_resource_name``), provides
    ``_force_close(exc)`` and ``_connection_lost_done()`` (what goes once
    ``connection_lost`` ran), and may add to the repr (``_repr_extra``)."""

    if TYPE_CHECKING:
        _extra: dict[str, Any]
        _sock_fd: Any
        _loop: Any
        _protocol: Any

        def is_closing(self) -> bool: ...
        def _force_close(self, exc: BaseException | None) -> None: ...
        def _connection_lost_done(self) -> None: ...

    _resource_name = "_sock"
    _fatal_message = "Fatal error on transport"
    _protocol_connected = True
    # The loop whose _py_owned_fds counts this transport's fd (see _own_fd).
    _fd_counted_on: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # -- the engine's count of fds owned by Python transports -----------------

    def _own_fd(self, loop: Any) -> None:
        """While a Python transport owns a fd (registered with add_reader/
        add_writer), the engine asks ``_ensure_fd_no_transport`` before
        letting anyone else register a fd. Balanced by ``_release_fd``, on
        close and on garbage collection."""
        loop._py_owned_fds += 1
        self._fd_counted_on = loop

    def _release_fd(self) -> None:
        loop = self._fd_counted_on
        if loop is not None:
            self._fd_counted_on = None
            loop._py_owned_fds -= 1

    # -- repr, garbage collection ---------------------------------------------

    def _repr_fd(self) -> Any:
        return self._sock_fd

    def _repr_extra(self, info: list[str]) -> None:
        pass

    def __repr__(self) -> str:
        info = [type(self).__name__]
        if getattr(self, self._resource_name, None) is None:
            info.append("closed")
        elif self.is_closing():
            info.append("closing")
        info.append(f"fd={self._repr_fd()}")
        self._repr_extra(info)
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        resource = getattr(self, self._resource_name, None)
        if resource is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            resource.close()
        self._release_fd()

    # -- closing --------------------------------------------------------------

    def _quiet_error(self, exc: BaseException) -> bool:
        # Peer resets and the like are routine for a server: no report.
        return isinstance(exc, OSError)

    def _fatal_error(self, exc: BaseException, message: str | None = None) -> None:
        if message is None:
            message = self._fatal_message
        if self._quiet_error(exc):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })
        self._force_close(exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._connection_lost_done()


class _SocketTransportBase(TransportBase, FlowControl):
    """A datagram socket transport's bookkeeping on the loop's reader/writer
    registry."""

    _buffer: collections.deque[Any]
    _buffer_size: int

    def __init__(self, loop: Any, sock: socket.socket, protocol: Any,
                 extra: Mapping[str, Any] | None = None) -> None:
        self._extra = socket_extra(sock, extra)
        self._loop = loop
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._protocol = protocol
        self._closing = False
        self._conn_lost = 0
        self._protocol_paused = False  # writing paused (flow control)
        self._writing = False          # the writer is registered
        self._high_water, self._low_water = check_buffer_limits(None, None)
        # Every protocol callback runs in this context (uvloop's rule).
        self._context = contextvars.copy_context()
        loop._transports[self._sock_fd] = self
        self._own_fd(loop)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._protocol_connected = True

    def is_closing(self) -> bool:
        return self._closing

    def _start_reading(self):
        if not self._closing:
            self._loop._raw_add_reader(self._sock_fd, self._read_in_context)

    def _read_ready(self) -> None:
        raise NotImplementedError

    def _read_in_context(self) -> None:
        # The fd's reader: the protocol's read callbacks run in the
        # transport's context. (A method of the transport, so that
        # registered_fds() and the watchdog name the transport.)
        self._context.run(self._read_ready)

    def abort(self) -> None:
        self._force_close(None)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
        if self._writing:
            self._writing = False
            self._loop._raw_remove_writer(self._sock_fd)
        if not self._closing:
            self._closing = True
            self._loop._raw_remove_reader(self._sock_fd)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc, context=self._context)

    def _connection_lost_done(self) -> None:
        sock = self._sock
        self._release_fd()
        if sock is not None:
            if self._loop._transports.get(self._sock_fd) is self:
                del self._loop._transports[self._sock_fd]
            sock.close()
        self._sock = None  # type: ignore[assignment]
        # Like uvloop: no socket once the transport let it go.
        self._extra.pop("socket", None)
        if not self._conn_lost:
            self._conn_lost = 1
        self._protocol = None
        self._loop = None

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

def _buffered_protocol(protocol: object) -> bool:
    """Whether reads go through get_buffer()/buffer_updated(): for an
    asyncio.BufferedProtocol, and for any other protocol (not an
    asyncio.Protocol) that has both methods, as uvloop decides."""
    if (not isinstance(protocol, protocols.BufferedProtocol)
            and isinstance(protocol, protocols.Protocol)):
        return False
    return (getattr(protocol, "get_buffer", None) is not None
            and getattr(protocol, "buffer_updated", None) is not None)


def bytes_of(data: Any) -> bytes:
    """A private copy (the caller may reuse its buffer) of a bytes-like
    object's bytes. Any C-contiguous buffer, as uvloop's write()."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"data argument must be a bytes-like object, "
                        f"not {type(data).__name__!r}") from None
    with view:
        if not view.c_contiguous:
            raise TypeError(f"data argument must be a C-contiguous bytes-like object, "
                            f"not a non-contiguous {type(data).__name__!r}")
        return view.tobytes()


def _join_chunks(list_of_data: Iterable[Any]) -> bytes:
    chunks = list(list_of_data)
    try:
        return b"".join(chunks)
    except TypeError:
        for data in chunks:
            if type(data) is not bytes:
                bytes_of(data)  # raises, naming what is wrong
        raise


class StreamTransport(TransportBase, FlowControl, transports.Transport):
    """A TCP or Unix stream socket transport, on either engine.

    Its meaning lives here, once: closing and aborting, EOF, the protocol's
    flow control, fatal errors, extra info, ``connection_lost``. The hot
    paths (reading into the protocol, queuing writes, sending them once per
    loop iteration, pausing and resuming reading) are its core's: the one
    the loop's engine names (``loop._stream_core``: the Cython
    ``ioloop._core.StreamCore``, or `StreamCore` below for the pure-Python
    engine). The core calls back here only on cold transitions
    (``_read_eof``, ``_fatal_error``, ``_maybe_pause_protocol``,
    ``_maybe_resume_protocol``, ``_write_done``, ``_write_failed``).

    The methods a protocol calls per message (``write``, ``writelines``,
    ``is_closing``, ``pause_reading``, ``resume_reading``) are the core's
    own, bound on each instance, so they cost no extra Python frame.

    Writes are queued and flushed once per loop iteration (right after the
    read callbacks that made them); a write that takes the buffer over the
    high-water mark is sent at once when nothing waits for the socket to be
    writable.
    """

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None, server: Any = None,
                 core: Any = None) -> None:
        self._extra = socket_extra(sock, extra)
        self._loop = loop
        self._sock_fd = fd = sock.fileno()
        self._server = server
        if core is None:
            core = loop._stream_core
        # The core captures the context every protocol callback runs in.
        self._core = c = core(self, loop, sock, protocol)
        self._sock = sock  # the transport owns it from here on
        c._high_water, c._low_water = check_buffer_limits(None, None)
        self.write = c.write  # type: ignore[method-assign]
        self.writelines = c.writelines  # type: ignore[method-assign]
        self.is_closing = c.is_closing  # type: ignore[method-assign]
        self.pause_reading = c.pause_reading  # type: ignore[method-assign]
        self.resume_reading = c.resume_reading  # type: ignore[method-assign]
        if server is not None:
            server._attach(self)
        loop._transports[fd] = self
        set_nodelay(sock)
        loop.call_soon(protocol.connection_made, self, context=c._context)
        loop.call_soon(c._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    # Bound per instance in __init__; listed here for the class interface.
    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        self._core.write(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        self._core.writelines(list_of_data)

    def is_closing(self) -> bool:
        return self._core.is_closing()

    def pause_reading(self) -> None:
        self._core.pause_reading()

    def resume_reading(self) -> None:
        self._core.resume_reading()

    def is_reading(self) -> bool:
        return self._core.is_reading()

    # -- the protocol ---------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._core._set_protocol(protocol)
        self._protocol_connected = True

    @property
    def _protocol(self) -> Any:
        return self._core._protocol

    @property
    def _context(self) -> contextvars.Context:  # type: ignore[override]
        return self._core._context

    # The state asyncio's selector transports expose, read (and some of it
    # written) by code written against them; the core holds it.
    @property
    def _closing(self) -> bool:
        return self._core._closing

    @property
    def _paused(self) -> bool:
        return self._core._paused

    @property
    def _eof(self) -> bool:
        return self._core._eof

    @property
    def _conn_lost(self) -> int:
        return self._core._conn_lost

    @property
    def _empty_waiter(self) -> Any:
        return self._core._empty_waiter

    @property
    def _protocol_paused(self) -> bool:
        return self._core._protocol_paused

    @_protocol_paused.setter
    def _protocol_paused(self, value: bool) -> None:
        self._core._protocol_paused = value

    @property
    def _high_water(self) -> int:
        return self._core._high_water

    @_high_water.setter
    def _high_water(self, value: int) -> None:
        self._core._high_water = value

    @property
    def _low_water(self) -> int:
        return self._core._low_water

    @_low_water.setter
    def _low_water(self, value: int) -> None:
        self._core._low_water = value

    def get_write_buffer_size(self) -> int:
        return self._core.get_write_buffer_size()

    # -- reading: EOF -----------------------------------------------------------

    def _read_eof(self) -> None:
        # From the core's read path, in the transport's context. After
        # eof_received() returns true, reading stops; resume_reading()
        # (after pause_reading()) watches the socket again, which reports
        # EOF again, as asyncio's transports do.
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._core._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # Nothing more to read: stop watching, the write side stays usable.
            self._core._stop_reading()
        else:
            self.close()

    # -- writing: the cold transitions -----------------------------------------

    def _write_done(self) -> None:
        # The core sent the whole buffer while the protocol was paused, or
        # the transport was closing, at EOF or under sendfile.
        # resume_writing() may write again.
        c = self._core
        self._maybe_resume_protocol()
        if c.get_write_buffer_size():
            return
        waiter = c._empty_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if c._closing:
            if not c._conn_lost:
                c._conn_lost += 1
                self._loop.call_soon(self._call_connection_lost, None, context=c._context)
        elif c._eof:
            try:
                c._shutdown_write()
            except OSError as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")

    def _write_failed(self, exc: BaseException) -> None:
        # send() failed: the core dropped its buffer and stopped writing.
        self._fatal_error(exc, "Fatal write error on socket transport")
        waiter = self._core._empty_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def write_eof(self) -> None:
        c = self._core
        if c._closing or c._eof:
            return
        c._eof = True
        if not c.get_write_buffer_size():
            c._shutdown_write()
        # Otherwise after the queued data (_write_done).

    def can_write_eof(self) -> bool:
        return True

    # -- closing ----------------------------------------------------------------

    def close(self) -> None:
        c = self._core
        if c._closing:
            return
        c._closing = True
        c._stop_reading()
        if not c.get_write_buffer_size():
            c._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None, context=c._context)
        # Otherwise the queued data is flushed first (_write_done).

    def abort(self) -> None:
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        c = self._core
        if c._conn_lost:
            return
        c._drop_buffer()
        c._closing = True
        c._set_events(False, False)
        c._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc, context=c._context)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._sock is None:
            return
        self._core._set_events(False, False)
        super()._call_connection_lost(exc)

    def _connection_lost_done(self) -> None:
        c = self._core
        sock = self._sock
        transports = self._loop._transports
        if transports.get(self._sock_fd) is self:
            del transports[self._sock_fd]
        self._sock = None  # type: ignore[assignment]
        c._detach()
        sock.close()
        # Like uvloop: no socket once the transport let it go.
        self._extra.pop("socket", None)
        server = self._server
        self._server = None
        if server is not None:
            server._detach(self)
        waiter = c._empty_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("Connection is closed by peer"))

    # -- sendfile support ---------------------------------------------------------

    def _make_empty_waiter(self) -> asyncio.Future[None]:
        c = self._core
        if c._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        waiter = c._empty_waiter = self._loop.create_future()
        if not c.get_write_buffer_size():
            waiter.set_result(None)
        return waiter

    def _reset_empty_waiter(self) -> None:
        self._core._empty_waiter = None

    # -- the pure-Python core's reader and writer ------------------------------------

    # Methods of the transport, so that registered_fds() and the watchdog
    # name the transport.
    def _read_in_context(self) -> None:
        c = self._core
        c._context.run(c._read_ready)

    def _write_ready(self) -> None:
        self._core._write_ready()


class StreamCore:
    """The hot paths of a `StreamTransport` on the pure-Python engine
    (the same interface as the Cython ``ioloop._core.StreamCore``): reads
    into the protocol, the write buffer and the once-per-iteration flush
    (the loop calls ``_exec_write()``), reading on and off.

    It holds the transport's state; the transport (``_face``) reads and
    writes it for the cold paths. Its fd is registered with the loop's
    reader/writer registry (the transport's own reader and writer)."""

    def __init__(self, face: StreamTransport, loop: Any, sock: socket.socket,
                 protocol: Any) -> None:
        self._face: Any = face
        self._loop = loop
        self._sock: Any = sock
        self._sock_fd = sock.fileno()
        # Every protocol callback runs in this context (uvloop's rule).
        self._context = contextvars.copy_context()
        self._buffer: collections.deque[Any] = collections.deque()
        self._buffer_size = 0
        self._high_water = self._low_water = 0  # set by the transport
        self._closing = False
        self._paused = False           # reading paused by the user
        self._eof = False              # write_eof() was called
        self._conn_lost = 0
        self._protocol_paused = False  # writing paused (flow control)
        self._reading = False          # the reader is registered
        self._writing = False          # the writer is registered
        self._queued = False           # in the loop's write queue
        self._in_read = False          # inside the read callbacks (see _read_ready)
        self._empty_waiter: asyncio.Future[None] | None = None
        self._set_protocol(protocol)
        face._own_fd(loop)

    def __repr__(self) -> str:
        return f"<StreamCore of {self._face!r}>"

    def _set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
        self._buffered = _buffered_protocol(protocol)

    # -- registration -------------------------------------------------------------

    def _set_events(self, reading: bool, writing: bool) -> None:
        """Watch the socket for reading and writing, or stop."""
        face = self._face
        if face is None:
            return
        if reading != self._reading:
            self._reading = reading
            if reading:
                self._loop._raw_add_reader(self._sock_fd, face._read_in_context)
            else:
                self._loop._raw_remove_reader(self._sock_fd)
        if writing != self._writing:
            self._writing = writing
            if writing:
                self._loop._raw_add_writer(self._sock_fd, face._write_ready)
            else:
                self._loop._raw_remove_writer(self._sock_fd)

    def _start_reading(self) -> None:
        if not self._closing and not self._paused:
            self._set_events(True, self._writing)

    def _stop_reading(self) -> None:
        self._set_events(False, self._writing)

    def _detach(self) -> None:
        """After connection_lost: nothing more to watch or call."""
        self._set_events(False, False)
        self._protocol = None
        self._sock = None
        self._face._release_fd()
        self._face = None

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        if self._paused or self._closing:
            return
        self._paused = True
        self._set_events(False, self._writing)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._set_events(True, self._writing)

    # -- reading ----------------------------------------------------------------

    def _read_ready(self) -> None:
        # What the protocol writes from its read callbacks is sent when they
        # return, not queued for the end of the iteration.
        self._in_read = True
        try:
            if self._buffered:
                self._read_ready_buffered()
            else:
                self._read_ready_plain()
            self._in_read = False
            if self._buffer:
                self._exec_write()
        except BaseException:
            # KeyboardInterrupt or SystemExit: queue what was written.
            self._in_read = False
            if self._buffer and not (self._queued or self._writing):
                self._loop._queue_write(self)
                self._queued = True
            raise

    def _read_ready_plain(self) -> None:
        if self._conn_lost:
            return
        try:
            data = self._sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._face._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._face._read_eof()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._face._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_ready_buffered(self) -> None:
        if self._conn_lost:
            return
        try:
            buf = self._protocol.get_buffer(-1)
            try:
                view = memoryview(buf)
            except TypeError:
                view = None
            if view is None or view.readonly or not view.c_contiguous:
                raise TypeError(f"get_buffer() must return a writable bytes-like "
                                f"object, not {type(buf).__name__}")
            if not view.nbytes:
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # uvloop's error, with the cause chained.
            err = RuntimeError("unhandled error (or an empty buffer) in get_buffer()")
            err.__cause__ = exc
            self._face._fatal_error(err, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._face._fatal_error(exc, "Fatal read error on socket transport")
            return
        finally:
            view.release()
        if not nbytes:
            self._face._read_eof()
            return
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._face._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    # -- writing ----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if type(data) is not bytes:
            data = bytes_of(data)
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        self._buffer.append(data)
        self._buffer_size += len(data)
        if self._buffer_size > self._high_water and not self._protocol_paused:
            if self._writing:
                # Behind data the kernel did not take yet.
                self._face._maybe_pause_protocol()
            else:
                # Over the high-water mark with nothing pending in the
                # kernel: send now (uvloop's fast path), pause only if it
                # does not all fit.
                self._exec_write()
        elif not (self._queued or self._in_read or self._writing):
            self._loop._queue_write(self)
            self._queued = True

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        self.write(_join_chunks(list_of_data))

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def _drop_buffer(self) -> None:
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0

    def _send_buffered(self) -> int | None:
        """Send from the buffer until it is empty or the kernel stops taking
        data. Returns the bytes sent, or None after a fatal error."""
        buf = self._buffer
        total = 0
        while buf:
            try:
                if len(buf) == 1:
                    want = len(buf[0])
                    n = self._sock.send(buf[0])
                else:
                    chunks = list(itertools.islice(buf, IOV_BATCH))
                    want = sum(map(len, chunks))
                    n = self._sock.sendmsg(chunks)
            except (BlockingIOError, InterruptedError):
                return total
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._drop_buffer()
                self._set_events(self._reading, False)
                self._face._write_failed(exc)
                return None
            total += n
            self._buffer_size -= n
            left = n
            while left:
                head = buf[0]
                if len(head) <= left:
                    left -= len(head)
                    buf.popleft()
                else:
                    buf[0] = memoryview(head)[left:]
                    left = 0
            if n < want:
                return total  # the kernel is full
        return total

    def _exec_write(self) -> None:
        """Send the buffer now: the loop's end-of-iteration flush, and
        write()'s fast path."""
        if self._conn_lost or self._writing or not self._buffer:
            return
        if self._send_buffered() is None:
            return
        if self._buffer:
            self._kernel_full()
        else:
            self._write_done()

    def _kernel_full(self) -> None:
        # The rest goes when the socket is writable.
        try:
            self._set_events(self._reading, True)
        except OSError as exc:
            self._face._fatal_error(exc, "Fatal write error on socket transport")
            return
        if self._protocol_paused:
            if self._buffer_size <= self._low_water:
                self._face._maybe_resume_protocol()
        elif self._buffer_size > self._high_water:
            self._face._maybe_pause_protocol()

    def _write_ready(self) -> None:
        if self._conn_lost or not self._buffer:
            self._set_events(self._reading, False)
            return
        if self._send_buffered() is None:
            return
        if self._buffer:
            if self._protocol_paused and self._buffer_size <= self._low_water:
                self._face._maybe_resume_protocol()
        else:
            self._set_events(self._reading, False)
            self._write_done()

    def _write_done(self) -> None:
        # The buffer was sent: the transport's cold transitions, if any.
        if (self._protocol_paused or self._closing or self._eof
                or self._empty_waiter is not None):
            self._face._write_done()

    def _shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise


def _check_sendto_address(family: int, addr: Any) -> None:
    """uvloop's rule: an IPv4/IPv6 datagram goes to a numeric address of
    the socket's family. A host name would make ``socket.sendto()`` resolve
    it with a blocking getaddrinfo() inside the loop."""
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(addr, tuple):
        return  # socket.sendto() checks the rest
    host = addr[0] if addr else None
    if isinstance(host, (bytes, bytearray)):
        try:
            host = bytes(host).decode("ascii")
        except UnicodeDecodeError:
            host = None
    if isinstance(host, str):
        try:
            socket.inet_pton(family, host)
            return
        except OSError:
            pass
        if family == socket.AF_INET and host in ("", "<broadcast>"):
            return  # INADDR_ANY and INADDR_BROADCAST, Python's spellings
        if family == socket.AF_INET6 and "%" in host:
            try:
                socket.getaddrinfo(host, None, family, socket.SOCK_DGRAM, 0,
                                   socket.AI_NUMERICHOST)
                return  # a scoped address, e.g. fe80::1%eth0
            except OSError:
                pass
    elif host is not None:
        return  # not a host: socket.sendto() raises TypeError
    raise ValueError(f"{addr!r}: socket family mismatch or a DNS lookup is required")


class DatagramTransport(_SocketTransportBase, transports.DatagramTransport, transports.Transport):
    """A UDP (or Unix datagram) socket transport."""

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 address: Any = None, waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(loop, sock, protocol, extra)
        self._address = address
        # A connected socket (remote_addr, or a connected sock=): datagrams
        # go with send(), sendto(data) needs no address.
        try:
            sock.getpeername()
            self._connected = True
        except OSError:
            self._connected = False
        self._buffer = collections.deque()
        self._buffer_size = 0
        loop.call_soon(protocol.connection_made, self, context=self._context)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _read_ready(self):
        if self._conn_lost:
            return
        try:
            data, addr = self._sock.recvfrom(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
        else:
            self._protocol.datagram_received(data, addr)

    def _error_received(self, exc):
        # From sendto() (maybe inside a protocol callback) or the writer: a
        # copy of the transport's context, as uvloop.
        self._context.copy().run(self._protocol.error_received, exc)

    def sendto(self, data: bytes | bytearray | memoryview[Any],
               addr: _Address | None = None) -> None:
        check_data(data)
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost or self._sock is None:
            # Closed: dropped, as a stream transport drops writes.
            if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._connected and addr is not None:
            _check_sendto_address(self._sock.family, addr)
        if not self._buffer:
            try:
                if self._connected:
                    self._sock.send(data)
                else:
                    # addr None on an unconnected socket: TypeError, a
                    # fatal error below (as asyncio).
                    self._sock.sendto(data, addr)  # type: ignore[arg-type]
                return
            except (BlockingIOError, InterruptedError):
                self._writing = True
                self._loop._raw_add_writer(self._sock_fd, self._sendto_ready)
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data) + 8
        self._maybe_pause_protocol()

    def _sendto_ready(self):
        while self._buffer:
            data, addr = self._buffer.popleft()
            self._buffer_size -= len(data) + 8
            try:
                if self._connected:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                self._buffer.appendleft((data, addr))
                self._buffer_size += len(data) + 8
                break
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._maybe_resume_protocol()
        if not self._buffer:
            if self._writing:
                self._writing = False
                self._loop._raw_remove_writer(self._sock_fd)
            if self._closing and not self._conn_lost:
                self._conn_lost += 1
                self._loop.call_soon(self._call_connection_lost, None, context=self._context)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop._raw_remove_reader(self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None, context=self._context)

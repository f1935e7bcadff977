"""Stream and datagram transports on ioloop's reader/writer registry.

Pure Python: this is the pure-Python twin's transport, and the one used for
Unix sockets and TLS's lower layer when the Cython transport is absent. The
Cython engine provides ``ioloop._core.StreamTransport`` with the same
behaviour for the hot path.

Semantics follow asyncio's selector transports (what asyncio code relies
on): ``connection_made`` is scheduled with ``call_soon`` and reading starts
after it; ``connection_lost`` is called exactly once, after the write buffer
is flushed on ``close()`` or at once on ``abort()``/a fatal error; the
protocol's ``pause_writing``/``resume_writing`` follow the high/low water
marks.
"""

from __future__ import annotations

import collections
import errno
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

# Same as asyncio: warn about writes to a lost connection after this many.
LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5
MAX_READ = 256 * 1024
# sendmsg() takes at most IOV_MAX (1024 on Linux) buffers.
MAX_IOV = 1024
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
        _high_water: int
        _low_water: int
        _protocol_paused: bool

        def get_write_buffer_size(self) -> int: ...

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high_water, self._low_water = check_buffer_limits(high, low)
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def _maybe_pause_protocol(self):
        if self._protocol_paused or self.get_write_buffer_size() <= self._high_water:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
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
                self._protocol.resume_writing()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler({
                    "message": "protocol.resume_writing() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                })


class _BaseTransport(FlowControl):
    """What stream and datagram transports share: extra info, flow
    control, close bookkeeping."""

    _buffer_factory = bytearray
    _buffer: collections.deque[Any]
    _buffer_size: int

    def __init__(self, loop: Any, sock: socket.socket, protocol: Any,
                 extra: Mapping[str, Any] | None = None, server: Any = None) -> None:
        self._extra: dict[str, Any] = {} if extra is None else dict(extra)
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._loop = loop
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._protocol = protocol
        self._protocol_connected = True
        self._server = server
        self._closing = False
        self._paused = False          # reading paused by the user
        self._conn_lost = 0
        self._protocol_paused = False  # writing paused (flow control)
        self._high_water, self._low_water = check_buffer_limits(None, None)
        if server is not None:
            server._attach(self)
        loop._transports[self._sock_fd] = self
        # The engine asks _ensure_fd_no_transport only while one is alive.
        loop._py_owned_fds += 1
        self._owns_fd = True

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn=warnings.warn):
        if getattr(self, "_sock", None) is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    # -- closing --------------------------------------------------------------

    def abort(self) -> None:
        self._force_close(None)

    def _fatal_error(self, exc, message="Fatal error on transport"):
        if isinstance(exc, OSError):
            # Peer resets and the like are routine for a server.
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

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
            self._loop._raw_remove_writer(self._sock_fd)
        if not self._closing:
            self._closing = True
            self._loop._raw_remove_reader(self._sock_fd)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            sock = self._sock
            if self._owns_fd:
                self._owns_fd = False
                self._loop._py_owned_fds -= 1
            if sock is not None:
                if self._loop._transports.get(self._sock_fd) is self:
                    del self._loop._transports[self._sock_fd]
                sock.close()
            self._sock = None  # type: ignore[assignment]
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                server._detach(self)
                self._server = None

    def get_write_buffer_size(self) -> int:
        return self._buffer_size


class SocketTransport(_BaseTransport, transports.Transport):
    """A TCP or Unix stream socket transport."""

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None, server: Any = None) -> None:
        super().__init__(loop, sock, protocol, extra, server)
        self._buffer = collections.deque()
        self._buffer_size = 0
        self._eof = False
        self._empty_waiter: asyncio.Future[None] | None = None
        self._read_into = None
        self._set_read_mode(protocol)
        set_nodelay(sock)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _set_read_mode(self, protocol):
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._set_read_mode(protocol)
        super().set_protocol(protocol)

    def _start_reading(self):
        if not self._closing and not self._paused:
            self._loop._raw_add_reader(self._sock_fd, self._read_ready)

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._loop._raw_remove_reader(self._sock_fd)

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop._raw_add_reader(self._sock_fd, self._read_ready)

    # -- reading ----------------------------------------------------------------

    def _read_ready(self):
        if self._conn_lost:
            return
        if self._buffered:
            self._read_ready_buffered()
            return
        try:
            data = self._sock.recv(MAX_READ)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._read_eof()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_ready_buffered(self):
        try:
            buf = self._protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            self._read_eof()
            return
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _read_eof(self):
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # Nothing more to read: stop watching, the writer stays usable.
            self._loop._raw_remove_reader(self._sock_fd)
        else:
            self.close()

    # -- writing ----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        check_data(data)
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
        if not self._buffer:
            try:
                n = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if n == len(data):
                return
            self._loop._raw_add_writer(self._sock_fd, self._write_ready)
            data = memoryview(data)[n:]
        # Own a copy: the caller may reuse its buffer.
        data = bytes(data)
        self._buffer.append(data)
        self._buffer_size += len(data)
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        list_of_data = list(list_of_data)
        for data in list_of_data:
            check_data(data)
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        self.write(b"".join(list_of_data))

    def _write_ready(self):
        if self._conn_lost:
            return
        buf = self._buffer
        try:
            if len(buf) == 1:
                n = self._sock.send(buf[0])
            else:
                n = self._sock.sendmsg(list(buf)[:MAX_IOV] if len(buf) > MAX_IOV else buf)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop._raw_remove_writer(self._sock_fd)
            buf.clear()
            self._buffer_size = 0
            self._fatal_error(exc, "Fatal write error on socket transport")
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(exc)
            return
        self._buffer_size -= n
        while n:
            head = buf[0]
            if len(head) <= n:
                n -= len(head)
                buf.popleft()
            else:
                buf[0] = memoryview(head)[n:]
                n = 0
        self._maybe_resume_protocol()
        if not buf:
            self._loop._raw_remove_writer(self._sock_fd)
            if self._empty_waiter is not None:
                self._empty_waiter.set_result(None)
            if self._closing:
                self._call_connection_lost(None)
            elif self._eof:
                self._shutdown_write()

    def _shutdown_write(self):
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._shutdown_write()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop._raw_remove_reader(self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None)

    def _call_connection_lost(self, exc):
        try:
            super()._call_connection_lost(exc)
        finally:
            self._write_ready = None  # type: ignore[method-assign,assignment]
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(
                    ConnectionError("Connection is closed by peer"))

    def _make_empty_waiter(self):
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self):
        self._empty_waiter = None


class DatagramTransport(_BaseTransport, transports.DatagramTransport, transports.Transport):
    """A UDP (or Unix datagram) socket transport."""

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 address: Any = None, waiter: asyncio.Future[None] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(loop, sock, protocol, extra)
        self._address = address
        self._buffer = collections.deque()
        self._buffer_size = 0
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def _start_reading(self):
        if not self._closing:
            self._loop._raw_add_reader(self._sock_fd, self._read_ready)

    def _read_ready(self):
        if self._conn_lost:
            return
        try:
            data, addr = self._sock.recvfrom(MAX_READ)
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

    def sendto(self, data: bytes | bytearray | memoryview[Any],
               addr: _Address | None = None) -> None:
        check_data(data)
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost and self._address:
            if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                if self._extra["peername"]:
                    self._sock.send(data)
                else:
                    # addr None on an unconnected socket: TypeError, a
                    # fatal error below (as asyncio).
                    self._sock.sendto(data, addr)  # type: ignore[arg-type]
                return
            except (BlockingIOError, InterruptedError):
                self._loop._raw_add_writer(self._sock_fd, self._sendto_ready)
            except OSError as exc:
                self._protocol.error_received(exc)
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
                if self._extra["peername"]:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                self._buffer.appendleft((data, addr))
                self._buffer_size += len(data) + 8
                break
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._maybe_resume_protocol()
        if not self._buffer:
            self._loop._raw_remove_writer(self._sock_fd)
            if self._closing:
                self._call_connection_lost(None)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop._raw_remove_reader(self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None)

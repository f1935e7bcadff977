"""Networking half of the asyncio loop: sockets, stream and datagram
transports, servers, TLS and sendfile. Mixed into ``ioloop.IOLoop``.

Argument checking and error messages follow asyncio's, so code written
against asyncio sees the same exceptions. Where asyncio only checks in debug
mode (a blocking socket passed to ``sock_*``), ioloop always checks: a
blocking socket would block the loop.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import enum
import errno
import io
import itertools
import logging
import os
import socket
import stat
import sys
import warnings
import weakref
from typing import TYPE_CHECKING

from asyncio import constants, exceptions, staggered, trsock

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover
    _ssl = None  # type: ignore[assignment]

if _ssl is not None:
    from . import _tls
else:  # pragma: no cover
    _tls = None

from . import _transports
from ._transports import DatagramTransport, StreamTransport, TransportSocket, set_nodelay


if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Iterable, Sequence
    from typing import IO, Any, ClassVar, Final, Literal, NoReturn, TypeAlias, TypeVar

    from _typeshed import ReadableBuffer, StrPath, WriteableBuffer
    from socket import _Address, _RetAddress

    from ._engine_py import Loop as _Engine

    _ProtocolT = TypeVar("_ProtocolT", bound=asyncio.BaseProtocol)
    # One getaddrinfo() answer, spelled out as typeshed's socket stub does
    # (its own alias for it is private, and not in every typeshed).
    _AddrInfo: TypeAlias = (
        tuple[Literal[socket.AddressFamily.AF_INET], socket.SocketKind, int, str,
              tuple[str, int]]
        | tuple[Literal[socket.AddressFamily.AF_INET6], socket.SocketKind, int, str,
                tuple[str, int, int, int] | tuple[int, bytes]])

    from ._engines import Engine

    class _LoopBase(_Engine, asyncio.AbstractEventLoop):  # type: ignore[misc]
        """What the mixins see of the loop they are mixed into."""

        # The engine of the loop's class (see _loop.loop_class).
        _engine: ClassVar[Engine]
else:
    _LoopBase = object

logger = logging.getLogger("ioloop")

_PY311 = sys.version_info >= (3, 11)
_PY312 = sys.version_info >= (3, 12)
_PY313 = sys.version_info >= (3, 13)

# Same as asyncio: wait this long before accepting again after EMFILE.
ACCEPT_RETRY_DELAY = 1.0
SENDFILE_FALLBACK_CHUNK = 256 * 1024
_HAS_IPV6 = socket.has_ipv6


class _Unset(enum.Enum):
    """The default of an argument whose absence means something."""

    UNSET = "unset"

    def __repr__(self) -> str:
        return "<unset>"


_unset: Final = _Unset.UNSET


def _check_ssl_socket(sock):
    if _ssl is not None and isinstance(sock, _ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


def _check_nonblocking(sock):
    _check_ssl_socket(sock)
    if sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _ipaddr_info(host, port, family, type, proto, flowinfo=0, scopeid=0):
    """The getaddrinfo() answer for a numeric address, without a resolver
    round trip; None when it needs the resolver."""
    if proto not in (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP) or host is None:
        return None
    if type == socket.SOCK_STREAM:
        proto = socket.IPPROTO_TCP
    elif type == socket.SOCK_DGRAM:
        proto = socket.IPPROTO_UDP
    else:
        return None
    if port is None or port == b"" or port == "":
        port = 0
    elif isinstance(port, (bytes, str)):
        try:
            port = int(port)
        except ValueError:
            return None
    elif not isinstance(port, int) or isinstance(port, bool):
        return None
    if family == socket.AF_UNSPEC:
        afs = (socket.AF_INET, socket.AF_INET6) if _HAS_IPV6 else (socket.AF_INET,)
    elif family in (socket.AF_INET, socket.AF_INET6):
        afs = (family,)
    else:
        return None
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str) or "%" in host:
        return None  # scoped IPv6 needs the resolver to map the interface
    for af in afs:
        try:
            socket.inet_pton(af, host)
        except OSError:
            continue
        if af == socket.AF_INET6:
            return af, type, proto, "", (host, port, flowinfo, scopeid)
        return af, type, proto, "", (host, port)
    return None


def _interleave_addrinfos(addrinfos, first_family_count=1):
    """Alternate address families (RFC 8305), keeping the resolver's order
    within each family."""
    by_family: dict[int, list[Any]] = {}
    for info in addrinfos:
        by_family.setdefault(info[0], []).append(info)
    lists = list(by_family.values())
    out = []
    if first_family_count > 1 and lists:
        out.extend(lists[0][:first_family_count - 1])
        del lists[0][:first_family_count - 1]
    for group in itertools.zip_longest(*lists):
        out.extend(a for a in group if a is not None)
    return out


def _raise_connect_errors(exceptions_: list[OSError], all_errors: bool) -> NoReturn:
    try:
        # (create_connection refuses all_errors=True before Python 3.11.)
        if all_errors and sys.version_info >= (3, 11):
            raise ExceptionGroup("create_connection failed", exceptions_)
        if len(exceptions_) == 1:
            raise exceptions_[0]
        model = str(exceptions_[0])
        if all(str(exc) == model for exc in exceptions_):
            raise exceptions_[0]
        raise OSError("Multiple exceptions: {}".format(
            ", ".join(str(exc) for exc in exceptions_)))
    finally:
        exceptions_ = None  # type: ignore[assignment]


class Server(asyncio.AbstractServer):
    """A listening server, as returned by ``create_server`` and
    ``create_unix_server``.

    An ``asyncio.AbstractServer`` with the same behaviour as asyncio's
    ``Server``: ``close()`` stops listening, ``wait_closed()`` waits for the
    connections to end, and ``async with server:`` closes it on exit.
    """

    def __init__(self, loop: NetMixin, sockets: list[socket.socket],
                 protocol_factory: Callable[[], asyncio.BaseProtocol],
                 ssl_context: ssl.SSLContext | bool | None, backlog: int,
                 ssl_handshake_timeout: float | None,
                 ssl_shutdown_timeout: float | None = None,
                 unix_paths: Iterable[tuple[str, int]] = ()) -> None:
        self._loop = loop
        self._sockets: list[socket.socket] | None = sockets
        self._active_count = 0
        self._waiters: list[asyncio.Future[None]] | None = []
        self._clients: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._ssl_context = ssl_context
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._serving = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        # (path, st_ino) of Unix sockets to unlink on close.
        self._unix_paths = list(unix_paths)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    def _attach(self, transport):
        self._active_count += 1
        self._clients.add(transport)

    def _detach(self, transport):
        self._active_count -= 1
        self._clients.discard(transport)
        if self._active_count == 0 and self._sockets is None:
            self._wakeup()

    def _wakeup(self):
        waiters = self._waiters
        self._waiters = None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def _start_serving(self):
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets or ():
            sock.listen(self._backlog)
            self._loop._start_serving(self, sock)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """Returns the loop the server runs on."""
        return self._loop

    def is_serving(self) -> bool:
        """Returns True while the server accepts new connections."""
        return self._serving

    @property
    def sockets(self) -> tuple[trsock.TransportSocket, ...]:
        """The listening sockets (as ``asyncio.trsock.TransportSocket``
        wrappers, as asyncio's, with the restrictions of a transport's
        socket); empty once the server is closed."""
        if self._sockets is None:
            return ()
        return tuple(TransportSocket(s) for s in self._sockets)

    def close(self) -> None:
        """Stops listening: closes the listening sockets (and removes the
        socket file of a Unix server it created).

        Connections already accepted stay open; `wait_closed()` waits for
        them. Closing twice does nothing.
        """
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        for sock in sockets:
            self._loop._stop_serving(sock)
        for path, ino in self._unix_paths:
            try:
                if os.stat(path).st_ino == ino:
                    os.unlink(path)
            except OSError:
                pass
        self._unix_paths = []
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if self._active_count == 0:
            self._wakeup()

    def close_clients(self) -> None:
        """Closes every connection accepted by the server (gracefully:
        buffered data is sent first)."""
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        """Closes every connection accepted by the server at once,
        discarding buffered data."""
        for transport in list(self._clients):
            transport.abort()  # type: ignore[attr-defined]

    async def start_serving(self) -> None:
        """Starts accepting connections (if ``create_server`` was given
        ``start_serving=False``). Does nothing if already serving."""
        self._start_serving()
        # One loop iteration, so the accept handlers are in place.
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        """Accepts connections until cancelled, then closes the server and
        waits for it to be closed.

        Raises `RuntimeError` if the server is closed, or if another
        ``serve_forever()`` is already running.
        """
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except exceptions.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        """Waits until the server is closed and all its connections are gone."""
        if self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


class _SendfileDrain(asyncio.Protocol):
    """Stands in for the transport's protocol during a fallback sendfile
    and tells it when the write buffer drained."""

    def __init__(self, transport):
        self._transport = transport
        self._proto = transport.get_protocol()
        self._should_resume_reading = transport.is_reading()
        self._should_resume_writing = getattr(transport, "_protocol_paused", False)
        transport.pause_reading()
        transport.set_protocol(self)
        self._write_ready_fut = None
        if self._should_resume_writing:
            self._write_ready_fut = transport._loop.create_future()

    async def drain(self):
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        fut = self._write_ready_fut
        if fut is not None:
            await fut

    def connection_made(self, transport):
        raise RuntimeError("Invalid state: connection should have been established already.")

    def connection_lost(self, exc):
        if self._write_ready_fut is not None:
            if exc is None:
                self._write_ready_fut.set_exception(ConnectionError("Connection is closed by peer"))
            else:
                self._write_ready_fut.set_exception(exc)
        self._proto.connection_lost(exc)

    def pause_writing(self):
        if self._write_ready_fut is None:
            self._write_ready_fut = self._transport._loop.create_future()

    def resume_writing(self):
        fut = self._write_ready_fut
        if fut is not None:
            self._write_ready_fut = None
            if not fut.done():
                fut.set_result(None)

    def data_received(self, data):
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self):
        raise RuntimeError("Invalid state: reading should be paused")

    async def restore(self):
        self._transport.set_protocol(self._proto)
        if self._should_resume_reading:
            self._transport.resume_reading()
        if self._write_ready_fut is not None:
            self._write_ready_fut.cancel()
        if self._write_ready_fut is not None or self._should_resume_writing:
            self._proto.resume_writing()


class NetMixin(_LoopBase):
    """``sock_*``, ``create_connection``/``create_server`` and their Unix
    variants, ``connect_accepted_socket``, ``create_datagram_endpoint``,
    ``sendfile``/``sock_sendfile`` and ``start_tls``."""

    # The engine's own registry, for transports: no ownership check.
    def _raw_add_reader(self, fd, callback, *args):
        return self._add_rw(fd, callback, args, False)

    def _raw_add_writer(self, fd, callback, *args):
        return self._add_rw(fd, callback, args, True)

    def _raw_remove_reader(self, fd):
        return self._remove_rw(fd, False)

    def _raw_remove_writer(self, fd):
        return self._remove_rw(fd, True)

    # fd -> transport, so the registry can refuse a second owner.
    @property
    def _transports(self):
        try:
            return self.__dict__["_transports_map"]
        except KeyError:
            m = self.__dict__["_transports_map"] = weakref.WeakValueDictionary()
            return m

    def _ensure_fd_no_transport(self, fd):
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        transport = self._transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")

    # -- name resolution ------------------------------------------------------

    async def getaddrinfo(self, host: bytes | str | None, port: bytes | str | int | None, *,
                          family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> list[_AddrInfo]:
        """Resolves ``host`` and ``port``, like `socket.getaddrinfo`.

        The lookup runs in the default executor, so the loop is not blocked
        meanwhile. A numeric host (an IP address) or None is answered at
        once, without the executor. Raises what `socket.getaddrinfo`
        raises (`socket.gaierror`).
        """
        if host is None or _ipaddr_info(host, port, family or 0, type or socket.SOCK_STREAM,
                                        proto) is not None:
            try:
                return socket.getaddrinfo(host, port, family, type, proto,
                                          flags | socket.AI_NUMERICHOST)
            except socket.gaierror:
                pass  # e.g. a service name: let the resolver handle it
        return await self.run_in_executor(
            None, socket.getaddrinfo, host, port, family, type, proto, flags)

    async def _ensure_resolved(self, address, *, family=0, type=socket.SOCK_STREAM,
                               proto=0, flags=0):
        host, port = address[:2]
        info = _ipaddr_info(host, port, family, type, proto, *address[2:])
        if info is not None:
            return [info]
        return await self.getaddrinfo(host, port, family=family, type=type,
                                      proto=proto, flags=flags)

    # -- low-level socket operations ------------------------------------------

    async def _sock_io(self, sock, writer, op, *args):
        """Run ``op(*args)`` once the socket is ready for it."""
        try:
            return op(*args)
        except (BlockingIOError, InterruptedError):
            pass
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        fut = self.create_future()

        def ready():
            if fut.done():
                return
            try:
                result = op(*args)
            except (BlockingIOError, InterruptedError):
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        return await self._wait_registered(fd, writer, ready, fut, sock)

    async def _wait_registered(self, fd, writer, ready, fut, sock):
        # The last sock_* call on an fd owns its registration (a new one
        # replaces the old); a finishing or cancelled call only removes the
        # registration if it is still its own.
        owners = self._sock_owners
        key = (fd, writer)
        # While we wait, sock.close() elsewhere only marks the socket
        # closed: the fd stays ours until the operation ends (uvloop).
        self._hold_sock(sock, ready)
        try:
            owners[key] = ready
            if writer:
                self._raw_add_writer(fd, ready)
            else:
                self._raw_add_reader(fd, ready)
            return await fut
        finally:
            if owners.get(key) is ready:
                del owners[key]
                if writer:
                    self._raw_remove_writer(fd)
                else:
                    self._raw_remove_reader(fd)
            self._release_sock(ready)

    @property
    def _sock_owners(self):
        try:
            return self.__dict__["_sock_owners_map"]
        except KeyError:
            m = self.__dict__["_sock_owners_map"] = {}
            return m

    # Sockets held open by pending sock_* operations: key -> socket.
    @property
    def _sock_holds(self):
        try:
            return self.__dict__["_sock_holds_map"]
        except KeyError:
            m = self.__dict__["_sock_holds_map"] = {}
            return m

    def _hold_sock(self, sock, key):
        """Defer a ``sock.close()`` until ``_release_sock(key)``: the io
        reference count that ``socket.makefile()`` uses (and uvloop), so the
        fd cannot be closed, and its number reused, under a pending
        operation."""
        if (not isinstance(sock, socket.socket)
                or type(getattr(sock, "_io_refs", None)) is not int  # a mock, say
                or sock.fileno() < 0):
            return
        sock._io_refs += 1  # type: ignore[attr-defined]
        self._sock_holds[key] = sock

    def _release_sock(self, key):
        sock = self._sock_holds.pop(key, None)
        if sock is not None:
            # Closes the socket if close() was called meanwhile.
            sock._decref_socketios()

    def _close(self) -> None:
        # The engine's close, when the loop closes: sockets still held by
        # pending sock_* operations are let go (a deferred close happens).
        holds = self._sock_holds
        while holds:
            self._release_sock(next(iter(holds)))
        super()._close()

    async def _wait_writable(self, sock):
        fut = self.create_future()

        def ready():
            if not fut.done():
                fut.set_result(None)

        await self._wait_registered(sock.fileno(), True, ready, fut, sock)

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        """Receives up to ``n`` bytes from ``sock``, waiting until it is
        readable; ``b""`` means the peer closed its end.

        Like all the ``sock_*`` methods, it takes a non-blocking socket:
        ioloop raises `ValueError` for a blocking one (asyncio checks that
        only in debug mode), and `TypeError` for an ``ssl.SSLSocket``.
        Errors from the socket call (`ConnectionResetError`...) propagate.
        """
        _check_nonblocking(sock)
        return await self._sock_io(sock, False, sock.recv, n)

    async def sock_recv_into(self, sock: socket.socket, buf: WriteableBuffer) -> int:
        """Receives into the writable buffer ``buf``, waiting until ``sock``
        is readable; returns the number of bytes received (0: the peer
        closed its end)."""
        _check_nonblocking(sock)
        return await self._sock_io(sock, False, sock.recv_into, buf)

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, _RetAddress]:
        """Receives a datagram of up to ``bufsize`` bytes from ``sock``,
        waiting until it is readable; returns ``(data, address)``."""
        _check_nonblocking(sock)
        return await self._sock_io(sock, False, sock.recvfrom, bufsize)

    async def sock_recvfrom_into(self, sock: socket.socket, buf: WriteableBuffer,
                                 nbytes: int = 0) -> tuple[int, _RetAddress]:
        """Receives a datagram into ``buf`` (at most ``nbytes`` bytes; 0:
        the size of ``buf``); returns ``(nbytes_received, address)``."""
        _check_nonblocking(sock)
        if not nbytes:
            nbytes = len(buf)  # type: ignore[arg-type]
        return await self._sock_io(sock, False, sock.recvfrom_into, buf, nbytes)

    async def sock_sendto(self, sock: socket.socket, data: ReadableBuffer,
                          address: _Address) -> int:
        """Sends the datagram ``data`` to ``address``, waiting until
        ``sock`` is writable; returns the number of bytes sent."""
        _check_nonblocking(sock)
        return await self._sock_io(sock, True, lambda: sock.sendto(data, address))

    async def sock_sendall(self, sock: socket.socket, data: ReadableBuffer) -> None:
        """Sends all of ``data``, waiting for ``sock`` to be writable as
        often as needed. On an error, how much was sent is unknown."""
        _check_nonblocking(sock)
        view = memoryview(data).cast("B")
        total = len(view)
        try:
            pos = sock.send(view)
        except (BlockingIOError, InterruptedError):
            pos = 0
        if pos >= total:
            return
        # Held open from one wait to the next, too.
        key = object()
        self._hold_sock(sock, key)
        try:
            while pos < total:
                pos += await self._sock_io(sock, True, sock.send, view[pos:])
        finally:
            self._release_sock(key)

    async def sock_connect(self, sock: socket.socket, address: _Address) -> None:
        """Connects ``sock`` to ``address``, waiting for the connection to
        complete.

        A host name in ``address`` is resolved first (with `getaddrinfo`);
        a Unix socket's path is used as is. Raises `OSError` (such as
        `ConnectionRefusedError`) if the connection fails.
        """
        _check_nonblocking(sock)
        if sock.family != socket.AF_UNIX:
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto)
            address = resolved[0][4]
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        fut = self.create_future()

        def connected():
            if fut.done():
                return
            try:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"Connect call failed {address}")
            except (BlockingIOError, InterruptedError):
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(None)

        try:
            return await self._wait_registered(fd, True, connected, fut, sock)
        finally:
            fut = None  # type: ignore[assignment]

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, _RetAddress]:
        """Accepts a connection on the listening ``sock``, waiting for one;
        returns ``(conn, address)`` with ``conn`` non-blocking."""
        _check_nonblocking(sock)
        conn, address = await self._sock_io(sock, False, sock.accept)
        conn.setblocking(False)
        return conn, address

    # -- sendfile -------------------------------------------------------------

    @staticmethod
    def _check_sendfile_params(sock, file, offset, count):
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if not sock.type == socket.SOCK_STREAM:
            raise ValueError(f"only SOCK_STREAM type sockets are supported, got {sock!r}")
        if count is not None:
            if not isinstance(count, int):
                raise TypeError(f"count must be a positive integer (got {count!r})")
            if count <= 0:
                raise ValueError(f"count must be a positive integer (got {count!r})")
        if not isinstance(offset, int):
            raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
        if offset < 0:
            raise ValueError(f"offset must be a non-negative integer (got {offset!r})")

    async def sock_sendfile(self, sock: socket.socket, file: IO[bytes], offset: int = 0,
                            count: int | None = None, *, fallback: bool | None = True) -> int:
        """Sends ``count`` bytes (None: up to the end) of ``file``, from
        ``offset``, over the connected stream socket ``sock``; returns the
        number of bytes sent.

        Uses `os.sendfile` for a regular file. Otherwise, with ``fallback``
        true, the file is read (in the default executor) and sent; with
        ``fallback`` false, `asyncio.SendfileNotAvailableError` is raised.
        The file position is left after the last byte sent. ``file`` must be
        opened in binary mode (`ValueError` otherwise).
        """
        _check_nonblocking(sock)
        self._check_sendfile_params(sock, file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except exceptions.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    async def _sock_sendfile_native(self, sock, file, offset, count):
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation) as err:
            raise exceptions.SendfileNotAvailableError("not a regular file") from err
        try:
            st = os.fstat(fileno)
        except OSError as err:
            raise exceptions.SendfileNotAvailableError("not a regular file") from err
        if not stat.S_ISREG(st.st_mode):
            raise exceptions.SendfileNotAvailableError("not a regular file")
        blocksize = count if count else st.st_size
        if not blocksize:
            return 0
        blocksize = min(blocksize, 0x7FFFF000)
        total = 0
        try:
            while True:
                want = min(blocksize, count - total) if count else blocksize
                if want <= 0:
                    break
                try:
                    sent = os.sendfile(sock.fileno(), fileno, offset + total, want)
                except (BlockingIOError, InterruptedError):
                    await self._wait_writable(sock)
                    continue
                except OSError as exc:
                    if total == 0 and exc.errno in (errno.EINVAL, errno.ENOSYS,
                                                    errno.ENOTSOCK, errno.EOPNOTSUPP):
                        raise exceptions.SendfileNotAvailableError(
                            "os.sendfile() is not available for this file") from exc
                    raise
                if sent == 0:
                    break  # EOF
                total += sent
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)
        return total

    async def _sock_sendfile_fallback(self, sock, file, offset, count):
        if offset:
            file.seek(offset)
        blocksize = min(count, SENDFILE_FALLBACK_CHUNK) if count else SENDFILE_FALLBACK_CHUNK
        buf = bytearray(blocksize)
        total = 0
        try:
            while True:
                if count:
                    blocksize = min(count - total, blocksize)
                    if blocksize <= 0:
                        break
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    break
                await self.sock_sendall(sock, view[:read])
                total += read
            return total
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)

    async def sendfile(self, transport: asyncio.WriteTransport, file: IO[bytes],
                       offset: int = 0, count: int | None = None, *,
                       fallback: bool = True) -> int:
        """Sends ``count`` bytes (None: up to the end) of ``file``, from
        ``offset``, over ``transport``; returns the number of bytes sent.

        On a plain TCP or Unix stream transport, data already buffered is
        sent first, then the file goes with `os.sendfile` while the
        transport's reading is paused. Otherwise (TLS, or a file that is
        not a regular file) and with ``fallback`` true, the file is read
        and written to the transport, following its flow control. Raises
        `RuntimeError` if the transport is closing or does not support
        sendfile (a datagram or pipe transport), or if sendfile is not
        possible and ``fallback`` is false.
        """
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        mode = getattr(transport, "_sendfile_compatible", constants._SendfileMode.UNSUPPORTED)
        if mode is constants._SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if mode is constants._SendfileMode.TRY_NATIVE:
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except exceptions.SendfileNotAvailableError:
                if not fallback:
                    raise
        if not fallback:
            raise RuntimeError(f"fallback is disabled and native sendfile is not "
                               f"supported for transport {transport!r}")
        return await self._sendfile_fallback(transport, file, offset, count)

    async def _sendfile_native(self, transport, file, offset, count):
        sock = transport.get_extra_info("socket")
        raw = getattr(transport, "_sock", None)
        if raw is None:
            raise exceptions.SendfileNotAvailableError("transport has no socket")
        self._check_sendfile_params(sock, file, offset, count)
        # Let buffered writes go first, and keep the reader quiet meanwhile.
        resume_reading = transport.is_reading()
        transport.pause_reading()
        await transport._make_empty_waiter()
        try:
            return await self._sock_sendfile_native(raw, file, offset, count)
        finally:
            transport._reset_empty_waiter()
            if resume_reading:
                transport.resume_reading()

    async def _sendfile_fallback(self, transport, file, offset, count):
        if offset:
            file.seek(offset)
        blocksize = min(count, 16384) if count else 16384
        buf = bytearray(blocksize)
        total = 0
        proto = _SendfileDrain(transport)
        try:
            while True:
                if count:
                    blocksize = min(count - total, blocksize)
                    if blocksize <= 0:
                        return total
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total
                await proto.drain()
                transport.write(bytes(view[:read]))
                total += read
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)
            await proto.restore()

    # -- transports -------------------------------------------------------------

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None):
        # The stream core is the one the loop's engine names; the pure-Python
        # core serves the socket families other than TCP and Unix.
        core = None
        if sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            core = _transports.StreamCore
        return StreamTransport(self, sock, protocol, waiter, extra, server, core)

    def _make_ssl_transport(self, rawsock, protocol, sslcontext, waiter=None, *,
                            server_side=False, server_hostname=None, extra=None,
                            server=None, ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None, call_connection_made=True):
        ssl_protocol = _tls.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            call_connection_made=call_connection_made,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._make_socket_transport(rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._get_app_transport()

    async def _create_connection_transport(self, sock, protocol_factory, ssl,
                                           server_hostname, server_side=False,
                                           ssl_handshake_timeout=None,
                                           ssl_shutdown_timeout=None):
        sock.setblocking(False)
        protocol = protocol_factory()
        waiter = self.create_future()
        if ssl:
            sslcontext = None if isinstance(ssl, bool) else ssl
            if sslcontext is None:
                sslcontext = _ssl.create_default_context()
                if server_side:
                    raise ValueError("Server side SSL needs a valid SSLContext")
            transport = self._make_ssl_transport(
                sock, protocol, sslcontext, waiter, server_side=server_side,
                server_hostname=server_hostname,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout)
        else:
            transport = self._make_socket_transport(sock, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    @staticmethod
    def _check_ssl_args(ssl, server_hostname=None, ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None):
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if ssl:
            _tls.check_timeout("ssl_handshake_timeout", ssl_handshake_timeout)
            _tls.check_timeout("ssl_shutdown_timeout", ssl_shutdown_timeout)

    # -- clients ------------------------------------------------------------------

    async def _connect_sock(self, exceptions_, addr_info, local_addr_infos=None):
        family, type_, proto, _, address = addr_info
        sock = None
        bind_errors = []
        try:
            sock = socket.socket(family=family, type=type_, proto=proto)
            sock.setblocking(False)
            if local_addr_infos is not None:
                for lfamily, _, _, _, laddr in local_addr_infos:
                    if lfamily != family:
                        continue
                    try:
                        sock.bind(laddr)
                        break
                    except OSError as exc:
                        msg = (f"error while attempting to bind on address "
                               f"{laddr!r}: {(exc.strerror or str(exc)).lower()}")
                        bind_errors.append(OSError(exc.errno, msg))
                else:
                    if bind_errors:
                        raise bind_errors.pop()
                    raise OSError(f"no matching local address with family={family} found")
            await self.sock_connect(sock, address)
            return sock
        except OSError as exc:
            exceptions_.append(exc)
            if sock is not None:
                sock.close()
            raise
        except BaseException:
            if sock is not None:
                sock.close()
            raise

    async def create_connection(
            self, protocol_factory: Callable[[], _ProtocolT], host: str | None = None,
            port: int | str | None = None, *, ssl: ssl.SSLContext | bool | None = None,
            family: int = 0, proto: int = 0, flags: int = 0, sock: socket.socket | None = None,
            local_addr: tuple[str, int] | None = None, server_hostname: str | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            happy_eyeballs_delay: float | None = None, interleave: int | None = None,
            all_errors: bool = False) -> tuple[asyncio.Transport, _ProtocolT]:
        """Opens a TCP connection to ``host:port``, or wraps the connected
        stream socket ``sock``; returns ``(transport, protocol)``.

        ``protocol_factory()`` makes the protocol; its ``connection_made``
        has been called when this returns. ``host`` is resolved with
        `getaddrinfo` (``family``, ``proto``, ``flags``), and its addresses
        are tried in turn (at the same time, staggered by
        ``happy_eyeballs_delay`` seconds, if that is given; ``interleave``
        alternates address families). ``local_addr`` binds the socket
        first.

        With ``ssl`` (an ``ssl.SSLContext``, or True for a default one)
        the connection is TLS: ``server_hostname`` (default: ``host``) is
        checked against the certificate; ``ssl_handshake_timeout`` and
        ``ssl_shutdown_timeout`` are in seconds.

        When no address can be connected, the `OSError` is raised (one
        combined error if they differ); with ``all_errors=True``, an
        `ExceptionGroup` of all of them (Python 3.11+: before, ``all_errors``
        true is a `TypeError`). Raises `ValueError` for conflicting
        arguments.
        """
        if all_errors and not _PY311:
            raise TypeError("create_connection(all_errors=True) needs Python 3.11+ "
                            "(ExceptionGroup)")
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl:
            if not host:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        self._check_ssl_args(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            _check_ssl_socket(sock)
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            infos = await self._ensure_resolved(
                (host, port), family=family, type=socket.SOCK_STREAM, proto=proto,
                flags=flags)
            if not infos:
                raise OSError("getaddrinfo() returned empty list")
            laddr_infos = None
            if local_addr is not None:
                laddr_infos = await self._ensure_resolved(
                    local_addr, family=family, type=socket.SOCK_STREAM, proto=proto,
                    flags=flags)
                if not laddr_infos:
                    raise OSError("getaddrinfo() returned empty list")
            if interleave:
                infos = _interleave_addrinfos(infos, interleave)
            errors: list[OSError] = []
            if happy_eyeballs_delay is None:
                for info in infos:
                    try:
                        sock = await self._connect_sock(errors, info, laddr_infos)
                        break
                    except OSError:
                        continue
            else:
                sock, _, _ = await staggered.staggered_race(
                    [lambda info=info: self._connect_sock(  # type: ignore[misc]
                        errors, info, laddr_infos) for info in infos],
                    happy_eyeballs_delay, loop=self)
            if sock is None:
                try:
                    _raise_connect_errors([e for e in errors], all_errors)
                finally:
                    errors = None  # type: ignore[assignment]
        else:
            if sock is None:
                raise ValueError("host and port was not specified and no sock specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        return await self._create_connection_transport(
            sock, protocol_factory, ssl, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)

    async def create_unix_connection(
            self, protocol_factory: Callable[[], _ProtocolT], path: StrPath | None = None, *,
            ssl: ssl.SSLContext | bool | None = None, sock: socket.socket | None = None,
            server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None) -> tuple[asyncio.Transport, _ProtocolT]:
        """Connects to the Unix stream socket at ``path``, or wraps the
        connected Unix socket ``sock``; returns ``(transport, protocol)``.

        As `create_connection`; with ``ssl``, ``server_hostname`` is
        required.
        """
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            self._check_ssl_args(ssl, server_hostname, ssl_handshake_timeout,
                                 ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
            sock.setblocking(False)
        return await self._create_connection_transport(
            sock, protocol_factory, ssl, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)

    async def connect_accepted_socket(
            self, protocol_factory: Callable[[], _ProtocolT], sock: socket.socket, *,
            ssl: ssl.SSLContext | bool | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None) -> tuple[asyncio.Transport, _ProtocolT]:
        """Wraps a stream socket accepted outside the loop in a transport;
        returns ``(transport, protocol)``.

        With ``ssl``, the loop runs the server side of a TLS handshake.
        """
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        self._check_ssl_args(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        _check_ssl_socket(sock)
        return await self._create_connection_transport(
            sock, protocol_factory, ssl, "", server_side=True,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)

    async def start_tls(
            self, transport: asyncio.BaseTransport, protocol: asyncio.BaseProtocol,
            sslcontext: ssl.SSLContext, *, server_side: bool = False,
            server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None) -> asyncio.Transport:
        """Upgrades the stream ``transport`` to TLS, once the handshake is
        done; returns the new transport, which ``protocol`` now receives
        data from.

        ``transport`` must not be used any more. Raises `TypeError` if
        ``sslcontext`` is not an ``ssl.SSLContext``, or for a transport
        that is not one of the loop's stream transports; if the handshake
        fails, ``transport`` is closed and the error is raised.
        """
        if _ssl is None:
            raise RuntimeError("Python ssl module is not available")
        if not isinstance(sslcontext, _ssl.SSLContext):
            raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, "
                            f"got {sslcontext!r}")
        if not getattr(transport, "_start_tls_compatible", False):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        # The TLS transport runs the protocol callbacks the application
        # causes in the context of the transport it upgrades: its own when
        # it tells, else the one it calls the TLS protocol in.
        context = getattr(transport, "_context", None)
        context = context.copy() if isinstance(context, contextvars.Context) else None
        waiter = self.create_future()
        ssl_protocol = _tls.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            call_connection_made=False, ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout, context=context,
            adopt_context=context is None)
        app_transport = ssl_protocol._get_app_transport()
        # Pause early so no data reaches the old protocol meanwhile.
        transport.pause_reading()  # type: ignore[attr-defined]
        transport.set_protocol(ssl_protocol)
        conmade_cb = self.call_soon(ssl_protocol.connection_made, transport)
        resume_cb = self.call_soon(transport.resume_reading)  # type: ignore[attr-defined]
        try:
            await waiter
        except BaseException:
            conmade_cb.cancel()
            resume_cb.cancel()
            if ssl_protocol._transport is None:
                transport.close()  # the handshake never started
            else:
                app_transport.close()
            raise
        return app_transport

    # -- servers ----------------------------------------------------------------

    def _start_serving(self, server, sock):
        self._raw_add_reader(sock.fileno(), self._accept_ready, server, sock)

    def _stop_serving(self, sock):
        self._raw_remove_reader(sock.fileno())
        sock.close()

    def _accept_ready(self, server, sock):
        for _ in range(server._backlog):
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of fds: stop accepting for a while rather than spin
                    # on a listening socket that stays readable.
                    self.call_exception_handler({
                        "message": "socket.accept() out of system resource",
                        "exception": exc,
                        "socket": TransportSocket(sock),
                    })
                    self._raw_remove_reader(sock.fileno())
                    self.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting, server, sock)
                    return
                raise
            conn.setblocking(False)
            self._accept_connection(server, conn, addr)

    def _resume_accepting(self, server, sock):
        if server._sockets is not None and sock in server._sockets and sock.fileno() >= 0:
            self._start_serving(server, sock)

    def _accept_connection(self, server, conn, addr):
        extra = {"peername": addr}
        try:
            protocol = server._protocol_factory()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            self.call_exception_handler({
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            })
            return
        try:
            if server._ssl_context:
                waiter = self.create_future()
                self._make_ssl_transport(
                    conn, protocol, server._ssl_context, waiter, server_side=True,
                    extra=extra, server=server,
                    ssl_handshake_timeout=server._ssl_handshake_timeout,
                    ssl_shutdown_timeout=server._ssl_shutdown_timeout)
                # A failed handshake closes the transport; retrieve the error.
                waiter.add_done_callback(_consume_waiter)
            else:
                self._make_socket_transport(conn, protocol, extra=extra, server=server)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            self.call_exception_handler({
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
                "protocol": protocol,
            })

    async def create_server(  # type: ignore[override]
            self, protocol_factory: Callable[[], asyncio.BaseProtocol],
            host: str | Iterable[str] | None = None, port: int | str | None = None, *,
            family: int = socket.AF_UNSPEC, flags: int = socket.AI_PASSIVE,
            sock: socket.socket | None = None, backlog: int = 100,
            ssl: ssl.SSLContext | bool | None = None, reuse_address: bool | None = None,
            reuse_port: bool | None = None, keep_alive: bool | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
            start_serving: bool = True) -> Server:
        """Listens for TCP connections on ``host:port``, or on the bound
        stream socket ``sock``; returns a `Server`.

        ``host`` is a host name or address, a list of them, or None (or
        ``""``) for all interfaces; a socket is bound for every address
        they resolve to (IPv6 sockets with ``IPV6_V6ONLY``). Each accepted
        connection gets a protocol from ``protocol_factory()`` and a
        transport. ``reuse_address`` (default True with ``host``/``port``),
        ``reuse_port`` and ``keep_alive`` set ``SO_REUSEADDR``,
        ``SO_REUSEPORT`` and ``SO_KEEPALIVE``; ``backlog`` is the
        ``listen()`` backlog, and also the most connections accepted per
        loop iteration. ``ssl`` is an ``ssl.SSLContext`` (a bool is a
        `TypeError`). With ``start_serving=False``, listening starts with
        ``Server.start_serving()`` or ``serve_forever()``.

        The returned `Server` is ioloop's (an ``asyncio.AbstractServer``),
        not an instance of ``asyncio.Server``. Raises `OSError` if no
        address can be bound, `ValueError` for conflicting arguments.
        """
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        self._check_ssl_args(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            _check_ssl_socket(sock)
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            if reuse_address is None:
                reuse_address = True
            hosts: list[str | None]
            if host == "":
                hosts = [None]
            elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
                hosts = [host]
            else:
                hosts = list(host)
            resolved = await asyncio.gather(*[
                self._ensure_resolved((h, port), family=family, type=socket.SOCK_STREAM,
                                      flags=flags) if h is not None else
                self.getaddrinfo(h, port, family=family, type=socket.SOCK_STREAM,
                                 flags=flags)
                for h in hosts])
            infos = set(itertools.chain.from_iterable(resolved))
            sockets = []
            completed = False
            try:
                for af, socktype, proto, _, sa in infos:
                    try:
                        sock = socket.socket(af, socktype, proto)
                    except socket.error:
                        continue
                    sockets.append(sock)
                    if reuse_address:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                    if reuse_port:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    if keep_alive:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
                    if _HAS_IPV6 and af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                    try:
                        sock.bind(sa)
                    except OSError as err:
                        msg = (f"error while attempting to bind on address {sa!r}: "
                               f"{err.strerror.lower()}")  # type: ignore[union-attr]
                        if err.errno == errno.EADDRNOTAVAIL:
                            # An IPv6 host address may be unusable here.
                            sockets.pop()
                            sock.close()
                            continue
                        raise OSError(err.errno, msg) from None
                if not sockets:
                    raise OSError("could not bind on any address out of "
                                  f"{[info[4] for info in infos]!r}")
                completed = True
            finally:
                if not completed:
                    for s in sockets:
                        s.close()
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
            sockets = [sock]
        for s in sockets:
            s.setblocking(False)
        server = Server(self, sockets, protocol_factory, ssl, backlog,
                        ssl_handshake_timeout, ssl_shutdown_timeout)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
        return server

    async def create_unix_server(  # type: ignore[override]
            self, protocol_factory: Callable[[], asyncio.BaseProtocol],
            path: StrPath | None = None, *, sock: socket.socket | None = None,
            backlog: int = 100, ssl: ssl.SSLContext | bool | None = None,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None, start_serving: bool = True,
            cleanup_socket: bool = _PY313) -> Server:
        """Listens on the Unix stream socket at ``path``, or on the bound
        Unix socket ``sock``; returns a `Server`, as `create_server`.

        A stale socket file at ``path`` is removed first. With
        ``cleanup_socket``, closing the server removes the socket file, if
        it is still the one the server bound. Its default follows the
        running Python's asyncio: True on Python 3.13 and later, False
        before (asyncio there leaves the file; ioloop accepts the argument
        on every version). Raises `OSError` (errno ``EADDRINUSE``) if
        ``path`` is in use.
        """
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        self._check_ssl_args(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        unix_paths = []
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if path[0] not in (0, "\x00"):
                # A stale socket file from an earlier run: remove it.
                try:
                    if stat.S_ISSOCK(os.stat(path).st_mode):
                        os.remove(path)
                except FileNotFoundError:
                    pass
                except OSError as err:
                    logger.error("Unable to check or remove stale UNIX socket %r: %r",
                                 path, err)
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE,
                                  f"Address {path!r} is already in use") from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        if cleanup_socket:
            name = sock.getsockname()
            if isinstance(name, str) and name and name[0] != "\x00":
                try:
                    unix_paths.append((name, os.stat(name).st_ino))
                except OSError:
                    pass
        sock.setblocking(False)
        server = Server(self, [sock], protocol_factory, ssl, backlog,
                        ssl_handshake_timeout, ssl_shutdown_timeout, unix_paths)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
        return server

    # -- datagrams ----------------------------------------------------------------

    async def create_datagram_endpoint(
            self, protocol_factory: Callable[[], _ProtocolT],
            local_addr: tuple[str, int] | str | None = None,
            remote_addr: tuple[str, int] | str | None = None, *, family: int = 0,
            proto: int = 0, flags: int = 0, reuse_address: bool | None | _Unset = _unset,
            reuse_port: bool | None = None, allow_broadcast: bool | None = None,
            sock: socket.socket | None = None) -> tuple[asyncio.DatagramTransport, _ProtocolT]:
        """Creates a datagram (UDP, or Unix datagram) endpoint; returns
        ``(transport, protocol)``.

        The socket is bound to ``local_addr`` and/or connected to
        ``remote_addr`` (host names are resolved with `getaddrinfo`; with
        ``family=socket.AF_UNIX``, both are paths), or ``sock`` is used as
        is. ``reuse_port`` and ``allow_broadcast`` set ``SO_REUSEPORT`` and
        ``SO_BROADCAST``. ``reuse_address`` is deprecated, as in asyncio:
        True raises `ValueError`, False warns.
        """
        if sock is not None:
            if sock.type != socket.SOCK_DGRAM:
                raise ValueError(f"A UDP Socket was expected, got {sock!r}")
            if (local_addr or remote_addr or family or proto or flags or reuse_port
                    or allow_broadcast
                    or reuse_address is not _unset):
                opts = dict(local_addr=local_addr, remote_addr=remote_addr,
                            family=family, proto=proto, flags=flags,
                            reuse_address=reuse_address, reuse_port=reuse_port,
                            allow_broadcast=allow_broadcast)
                problems = ", ".join(f"{k}={v}" for k, v in opts.items()
                                     if v and v is not _unset)
                raise ValueError(f"socket modifier keyword arguments can not be used "
                                 f"when sock is specified. ({problems})")
            sock.setblocking(False)
            r_addr = None
        else:
            if reuse_address is not _unset:
                if reuse_address:
                    raise ValueError("Passing `reuse_address=True` is no longer supported, "
                                     "as the usage of SO_REUSEPORT in UDP poses a "
                                     "significant security concern.")
                else:
                    warnings.warn("The *reuse_address* parameter has been deprecated "
                                  "as of 3.5.10 and is scheduled for removal in 3.11.",
                                  DeprecationWarning, stacklevel=2)
            if not (local_addr or remote_addr):
                if family == 0:
                    raise ValueError("unexpected address family")
                addr_pairs_info: Sequence[tuple[tuple[int, int], Sequence[Any]]]
                addr_pairs_info = (((family, proto), (None, None)),)
            elif hasattr(socket, "AF_UNIX") and family == socket.AF_UNIX:
                for addr in (local_addr, remote_addr):
                    if addr is not None and not isinstance(addr, (str, bytes, os.PathLike)):
                        raise TypeError("string is expected")
                if local_addr and local_addr[0] not in (0, "\x00"):
                    try:
                        if stat.S_ISSOCK(os.stat(local_addr).st_mode):  # type: ignore[arg-type]
                            os.remove(local_addr)  # type: ignore[arg-type]
                    except FileNotFoundError:
                        pass
                    except OSError as err:
                        logger.error("Unable to check or remove stale UNIX socket %r: %r",
                                     local_addr, err)
                addr_pairs_info = (((family, proto), (local_addr, remote_addr)),)
            else:
                addr_infos: dict[tuple[int, int], list[Any]] = {}
                for idx, addr in ((0, local_addr), (1, remote_addr)):
                    if addr is not None:
                        if not (isinstance(addr, tuple) and len(addr) == 2):
                            raise TypeError("2-tuple is expected")
                        infos = await self._ensure_resolved(
                            addr, family=family, type=socket.SOCK_DGRAM, proto=proto,
                            flags=flags)
                        if not infos:
                            raise OSError("getaddrinfo() returned empty list")
                        for fam, _, pro, _, address in infos:
                            key = (fam, pro)
                            if key not in addr_infos:
                                addr_infos[key] = [None, None]
                            addr_infos[key][idx] = address
                addr_pairs_info = [
                    (key, addr_pair) for key, addr_pair in addr_infos.items()
                    if not ((local_addr and addr_pair[0] is None) or
                            (remote_addr and addr_pair[1] is None))]
                if not addr_pairs_info:
                    raise ValueError("can not get address information")
            exceptions_ = []
            for (family, proto), (local_address, remote_address) in addr_pairs_info:
                sock = None
                r_addr = None
                try:
                    sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
                    if reuse_port:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    if allow_broadcast:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                    sock.setblocking(False)
                    if local_addr:
                        sock.bind(local_address)  # type: ignore[arg-type]
                    if remote_addr:
                        if not allow_broadcast:
                            await self.sock_connect(sock, remote_address)  # type: ignore[arg-type]
                        r_addr = remote_address
                except OSError as exc:
                    if sock is not None:
                        sock.close()
                    exceptions_.append(exc)
                except BaseException:
                    if sock is not None:
                        sock.close()
                    raise
                else:
                    break
            else:
                raise exceptions_[0]
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = DatagramTransport(self, sock, protocol, r_addr, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol


def _consume_waiter(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()

"""ioloop's TLS layer: a protocol that speaks TLS to the transport below
it through ``ssl.MemoryBIO`` and ``ssl.SSLObject``, and a transport that
hands the application plain data.

The lower transport is any stream transport: one of ioloop's, another
``SSLTransport`` (TLS inside TLS) or any asyncio transport that calls a
protocol's ``get_buffer``/``buffer_updated`` or ``data_received``. The
behaviour is uvloop's, the same on every Python ioloop supports, where
asyncio's own layer differs between versions:

- The application's protocol is buffered when it has ``get_buffer`` and
  is not an ``asyncio.Protocol``; the buffer it returns is filled up to
  its length and no further.
- Application data that arrives with the last handshake flight is handed
  over from a later callback than the one that completes the handshake, so
  the code waiting on ``start_tls`` has the new transport first.
- ``close()`` flushes what the application wrote, then sends close_notify
  and waits (``ssl_shutdown_timeout``) for the peer's. From ``close()`` on,
  application data received is discarded, including data that came after
  our close_notify; a paused reader does not hold up the shutdown.
- The peer's close_notify calls the protocol's ``eof_received()`` (its
  return value is ignored: the transport then shuts down). A TCP EOF
  without close_notify does not: the transport closes and
  ``connection_lost(None)`` follows.
- Protocol callbacks the application causes itself (``pause_writing`` from
  ``write()``, data after ``resume_reading()``, ``eof_received`` during
  ``close()``) run in the context the transport was created in, like the
  callbacks the lower transport causes.

States: UNWRAPPED -> DO_HANDSHAKE -> WRAPPED -> [FLUSHING ->] SHUTDOWN, and
UNWRAPPED again from any state once the connection is aborted or lost.
FLUSHING writes out what the application wrote before ``close()``, while
discarding what arrives; SHUTDOWN exchanges close_notify.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import ssl
import warnings
from asyncio import constants, protocols, transports
from asyncio.log import logger
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Iterable

# Defaults, as in asyncio (3.11+) and uvloop.
SSL_HANDSHAKE_TIMEOUT = 60.0
SSL_SHUTDOWN_TIMEOUT = 30.0
# Flow control: application writes buffered (encrypted or not yet) before
# pause_writing(), and encrypted bytes received but not yet decrypted
# before the lower transport stops reading. In KiB.
FLOW_CONTROL_HIGH_WATER_SSL_WRITE = 512
FLOW_CONTROL_HIGH_WATER_SSL_READ = 256
# The largest read from the SSL object, and the receive buffer lent to the
# lower transport.
SSL_READ_MAX_SIZE = 256 * 1024
# As asyncio: warn about writes after the connection is lost from this many on.
LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5

# Protocol states.
UNWRAPPED = 0
DO_HANDSHAKE = 1
WRAPPED = 2
FLUSHING = 3
SHUTDOWN = 4
_STATE_NAMES = ("UNWRAPPED", "DO_HANDSHAKE", "WRAPPED", "FLUSHING", "SHUTDOWN")
# The transitions allowed besides "to UNWRAPPED from anywhere".
_TRANSITIONS = frozenset({(UNWRAPPED, DO_HANDSHAKE), (DO_HANDSHAKE, WRAPPED),
                          (WRAPPED, FLUSHING), (WRAPPED, SHUTDOWN),
                          (FLUSHING, SHUTDOWN)})

# Application protocol states: INIT -connection_made-> CON_MADE
# [-eof_received-> EOF] -connection_lost-> CON_LOST.
APP_INIT = 0
APP_CON_MADE = 1
APP_EOF = 2
APP_CON_LOST = 3

_SSL_AGAIN = (ssl.SSLWantReadError, ssl.SSLSyscallError)


def add_flowcontrol_defaults(high: int | None, low: int | None, kb: int) -> tuple[int, int]:
    """asyncio's water-mark rules with a default high mark of ``kb`` KiB."""
    if high is None:
        high = kb * 1024 if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


def create_default_client_context(server_hostname: str | None) -> ssl.SSLContext:
    """The context for ``ssl=True``: ssl's secure client defaults, without
    the host name check when there is no host name to check."""
    sslcontext = ssl.create_default_context()
    if not server_hostname:
        sslcontext.check_hostname = False
    return sslcontext


def check_timeout(name: str, value: float | None, default: float = 0.0) -> float:
    """``value``, checked: a positive number; ``default`` for None."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} should be a number, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} should be a positive number, got {value}")
    return value


def _nbytes(data: Any) -> int:
    return data.nbytes if type(data) is memoryview else len(data)


def _force_close(transport: Any, exc: BaseException | None) -> None:
    """Closes ``transport`` at once, reporting ``exc`` to its protocol
    when the transport can (asyncio's and ioloop's have ``_force_close``)."""
    force_close = getattr(transport, "_force_close", None)
    if force_close is not None:
        force_close(exc)
    else:
        transport.abort()


class SSLTransport(transports.Transport):
    """The transport the application sees on a TLS connection: plain data
    in and out, with asyncio's ``_SSLProtocolTransport`` interface."""

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.FALLBACK

    __slots__ = ("_loop", "_ssl_protocol", "_closed", "_detached", "_context", "__weakref__")

    def __init__(self, loop: Any, ssl_protocol: SSLProtocol,
                 context: contextvars.Context) -> None:
        self._loop = loop
        self._ssl_protocol = ssl_protocol
        self._closed = False
        self._detached = False
        self._context = context

    def __repr__(self) -> str:
        if self._detached:
            return "<ioloop.SSLTransport closed>"
        state = " closed" if self._closed else ""
        return f"<ioloop.SSLTransport{state} {self._ssl_protocol!r}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not self._closed:
            self._closed = True
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Returns ``'sslcontext'``, and after the handshake
        ``'ssl_object'``, ``'peercert'``, ``'cipher'`` and
        ``'compression'``; any other name is asked of the transport below
        (``'socket'``, ``'peername'``, ...)."""
        return self._ssl_protocol._get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._ssl_protocol._set_app_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        # (None once the connection is lost, as asyncio's.)
        return cast("asyncio.BaseProtocol", self._ssl_protocol._app_protocol)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Flushes what was written, shuts TLS down (close_notify both
        ways, within ``ssl_shutdown_timeout``), then closes the transport
        below; ``connection_lost(None)`` follows. Data received from now
        on is discarded.

        On a transport already closed (by this method, `abort` or the
        connection's end), it lets go of the TLS state, as asyncio's does:
        the SSL context and object can be freed while the application
        keeps the transport; its extra info is gone then."""
        if self._closed:
            self._ssl_protocol = _DETACHED  # type: ignore[assignment]
            self._detached = True
            return
        self._closed = True
        self._ssl_protocol._start_shutdown(True)

    def abort(self) -> None:
        """Closes at once, without TLS shutdown; buffered data is lost and
        ``connection_lost(None)`` follows."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        self._closed = True
        self._ssl_protocol._abort(exc)

    # -- reading ------------------------------------------------------------------

    def is_reading(self) -> bool:
        return not self._ssl_protocol._app_reading_paused

    def pause_reading(self) -> None:
        """No more data reaches the protocol until `resume_reading`."""
        self._ssl_protocol._app_reading_paused = True

    def resume_reading(self) -> None:
        """Data received meanwhile is delivered from a later callback."""
        self._ssl_protocol._resume_reading()

    def set_read_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Water marks for the undecrypted bytes held while the
        application does not read: above ``high`` the transport below
        stops reading, under ``low`` it reads again."""
        proto = self._ssl_protocol
        proto._set_read_buffer_limits(high, low)
        proto._control_ssl_reading()

    def get_read_buffer_limits(self) -> tuple[int, int]:
        proto = self._ssl_protocol
        return proto._incoming_low_water, proto._incoming_high_water

    def get_read_buffer_size(self) -> int:
        return self._ssl_protocol._get_read_buffer_size()

    # -- writing ------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        """Encrypts ``data`` and passes it to the transport below."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, "
                            f"got {type(data).__name__}")
        if data:
            self._ssl_protocol._write_one(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview[Any]]) -> None:
        data = list(list_of_data)
        for item in data:
            if not isinstance(item, (bytes, bytearray, memoryview)):
                raise TypeError(f"data: expecting a bytes-like instance, "
                                f"got {type(item).__name__}")
        self._ssl_protocol._write_appdata(data)

    def write_eof(self) -> None:
        """TLS has no half-close: raises `NotImplementedError`."""
        raise NotImplementedError("write_eof() is not supported on a TLS transport")

    def can_write_eof(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Water marks for ``pause_writing``/``resume_writing`` over
        `get_write_buffer_size` (default high: 512 KiB)."""
        proto = self._ssl_protocol
        proto._set_write_buffer_limits(high, low)
        proto._control_app_writing(True)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        proto = self._ssl_protocol
        return proto._outgoing_low_water, proto._outgoing_high_water

    def get_write_buffer_size(self) -> int:
        """Bytes written and not yet passed to the transport below,
        encrypted or not."""
        return self._ssl_protocol._get_write_buffer_size()

    @property
    def _protocol_paused(self) -> bool:
        # sendfile's fallback reads it, as on asyncio's transports.
        return self._ssl_protocol._app_writing_paused

    def _test__append_write_backlog(self, data: bytes) -> None:
        # asyncio's and uvloop's TLS transports have this private hook to
        # fill the backlog of not yet encrypted data; kept for code (and
        # test suites) written against them.
        proto = self._ssl_protocol
        proto._write_backlog.append(data)
        proto._write_buffer_size += len(data)


class _Detached:
    """What a closed `SSLTransport` refers to instead of its protocol once
    it let go of it: every operation is a no-op or an empty answer."""

    _app_protocol = None
    _app_reading_paused = True
    _app_writing_paused = False
    _incoming_high_water, _incoming_low_water = add_flowcontrol_defaults(
        None, None, FLOW_CONTROL_HIGH_WATER_SSL_READ)
    _outgoing_high_water, _outgoing_low_water = add_flowcontrol_defaults(
        None, None, FLOW_CONTROL_HIGH_WATER_SSL_WRITE)

    @staticmethod
    def _get_extra_info(name: str, default: Any = None) -> Any:
        return default

    @staticmethod
    def _set_read_buffer_limits(high: int | None = None, low: int | None = None) -> None:
        add_flowcontrol_defaults(high, low, FLOW_CONTROL_HIGH_WATER_SSL_READ)

    @staticmethod
    def _set_write_buffer_limits(high: int | None = None, low: int | None = None) -> None:
        add_flowcontrol_defaults(high, low, FLOW_CONTROL_HIGH_WATER_SSL_WRITE)

    @staticmethod
    def _get_read_buffer_size() -> int:
        return 0

    _get_write_buffer_size = _get_read_buffer_size

    @staticmethod
    def _ignore(*args: Any) -> None:
        pass

    _set_app_protocol = _start_shutdown = _abort = _resume_reading = _ignore
    _control_ssl_reading = _control_app_writing = _write_appdata = _write_one = _ignore

    @property
    def _write_backlog(self) -> collections.deque[Any]:
        return collections.deque()

    @property
    def _write_buffer_size(self) -> int:
        return 0

    @_write_buffer_size.setter
    def _write_buffer_size(self, value: int) -> None:
        pass


_DETACHED = _Detached()


class SSLProtocol(protocols.BufferedProtocol):
    """The TLS state machine: a buffered protocol for the transport below,
    driving an ``ssl.SSLObject`` between two ``ssl.MemoryBIO``."""

    def __init__(self, loop: Any, app_protocol: asyncio.BaseProtocol,
                 sslcontext: ssl.SSLContext | None, waiter: asyncio.Future[Any] | None,
                 server_side: bool = False, server_hostname: str | None = None,
                 call_connection_made: bool = True,
                 ssl_handshake_timeout: float | None = None,
                 ssl_shutdown_timeout: float | None = None,
                 context: contextvars.Context | None = None,
                 adopt_context: bool = False) -> None:
        self._ssl_handshake_timeout = check_timeout(
            "ssl_handshake_timeout", ssl_handshake_timeout, SSL_HANDSHAKE_TIMEOUT)
        self._ssl_shutdown_timeout = check_timeout(
            "ssl_shutdown_timeout", ssl_shutdown_timeout, SSL_SHUTDOWN_TIMEOUT)
        if not sslcontext:
            if server_side:
                raise ValueError("Server side SSL needs a valid SSLContext")
            sslcontext = create_default_client_context(server_hostname)
        self._server_side = server_side
        self._server_hostname = server_hostname if server_hostname and not server_side else None
        self._sslcontext = sslcontext
        # More is added once the handshake is done.
        self._extra: dict[str, Any] = {"sslcontext": sslcontext}

        # Application data not yet taken by the SSL object.
        self._write_backlog: collections.deque[Any] = collections.deque()
        self._write_buffer_size = 0

        self._waiter = waiter
        self._loop = loop
        self._set_app_protocol(app_protocol)
        # The context for the protocol callbacks the application causes:
        # the one given, else the current one; with ``adopt_context``, the
        # one the transport below calls us in, from its first data on.
        self._context = contextvars.copy_context() if context is None else context
        self._adopt_context = adopt_context
        self._app_transport: SSLTransport | None = SSLTransport(loop, self, self._context)
        self._transport: Any = None

        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._outgoing_read = self._outgoing.read
        self._sslobj: ssl.SSLObject | None = None
        self._sslobj_read: Any = None
        self._sslobj_write: Any = None
        self._buffer = bytearray(SSL_READ_MAX_SIZE)
        self._buffer_view = memoryview(self._buffer)
        self._state = UNWRAPPED
        self._conn_lost = 0
        self._app_state = APP_INIT if call_connection_made else APP_CON_MADE
        self._handshake_start_time: float | None = None
        self._handshake_timeout_handle: asyncio.TimerHandle | None = None
        self._shutdown_timeout_handle: asyncio.TimerHandle | None = None
        self._read_scheduled = False
        # The transport below saw a TCP EOF.
        self._eof_received = False

        # Flow control: ours towards the transport below (its
        # pause_writing), the application's reading, the transport below
        # reading for us, the application's writing.
        self._ssl_writing_paused = False
        self._app_reading_paused = False
        self._ssl_reading_paused = False
        self._incoming_high_water, self._incoming_low_water = add_flowcontrol_defaults(
            None, None, FLOW_CONTROL_HIGH_WATER_SSL_READ)
        self._app_writing_paused = False
        self._outgoing_high_water, self._outgoing_low_water = add_flowcontrol_defaults(
            None, None, FLOW_CONTROL_HIGH_WATER_SSL_WRITE)

    def __repr__(self) -> str:
        return (f"<ioloop.SSLProtocol {_STATE_NAMES[self._state]}"
                f"{' server' if self._server_side else ''} transport={self._transport!r}>")

    def _set_app_protocol(self, app_protocol: asyncio.BaseProtocol) -> None:
        protocol: Any = app_protocol
        self._app_protocol: Any = protocol
        self._app_protocol_get_buffer: Any
        self._app_protocol_buffer_updated: Any
        # As uvloop: buffered by duck typing, unless it is a plain Protocol.
        if hasattr(protocol, "get_buffer") and not isinstance(protocol, protocols.Protocol):
            self._app_protocol_get_buffer = protocol.get_buffer
            self._app_protocol_buffer_updated = protocol.buffer_updated
            self._app_protocol_is_buffer = True
        else:
            self._app_protocol_get_buffer = self._app_protocol_buffer_updated = None
            self._app_protocol_is_buffer = False

    def _get_app_transport(self) -> SSLTransport:
        if self._app_transport is None:
            raise RuntimeError("the TLS transport is closed")
        return self._app_transport

    def _wakeup_waiter(self, exc: BaseException | None = None) -> None:
        waiter = self._waiter
        if waiter is None:
            return
        self._waiter = None
        if not waiter.cancelled():
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(None)

    def _get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._extra:
            return self._extra[name]
        if self._transport is not None:
            return self._transport.get_extra_info(name, default)
        return default

    def _set_state(self, new_state: int) -> None:
        if new_state != UNWRAPPED and (self._state, new_state) not in _TRANSITIONS:
            raise RuntimeError(f"cannot switch state from {_STATE_NAMES[self._state]} "
                               f"to {_STATE_NAMES[new_state]}")
        self._state = new_state

    def _call_app(self, app: bool, callback: Any, *args: Any) -> Any:
        """Calls an application protocol method: in the transport's context
        when the application itself started what led here (``app``), else
        directly (the transport below already runs us in that context)."""
        if app:
            return self._context.copy().run(callback, *args)
        return callback(*args)

    # -- protocol for the transport below -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Starts the handshake."""
        self._transport = transport
        if self._app_transport is not None and self._app_transport._closed:
            # Closed (a cancelled create_connection) before this.
            _force_close(transport, None)
            return
        self._start_handshake()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The transport below is gone: so is TLS. The application's
        ``connection_lost`` follows unless the handshake never finished."""
        self._write_backlog.clear()
        self._write_buffer_size = 0
        self._outgoing_read()
        self._conn_lost += 1
        if self._app_transport is not None:
            self._app_transport._closed = True
        if self._state != DO_HANDSHAKE and self._app_state in (APP_CON_MADE, APP_EOF):
            self._app_state = APP_CON_LOST
            self._loop.call_soon(self._app_protocol.connection_lost, exc,
                                 context=self._context)
        self._set_state(UNWRAPPED)
        self._transport = None
        self._app_transport = None
        self._app_protocol = None
        self._app_protocol_get_buffer = self._app_protocol_buffer_updated = None
        if exc is None and self._waiter is not None:
            exc = ConnectionResetError("Connection lost before the TLS handshake completed")
        self._wakeup_waiter(exc)
        if self._shutdown_timeout_handle is not None:
            self._shutdown_timeout_handle.cancel()
            self._shutdown_timeout_handle = None
        if self._handshake_timeout_handle is not None:
            self._handshake_timeout_handle.cancel()
            self._handshake_timeout_handle = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer_view

    def buffer_updated(self, nbytes: int) -> None:
        self._incoming.write(self._buffer_view[:nbytes])
        if self._state == WRAPPED and not self._adopt_context:
            self._do_read()
        else:
            self._process_incoming()

    def data_received(self, data: bytes) -> None:
        # For a transport below that does not lend itself to buffers.
        self._incoming.write(data)
        self._process_incoming()

    def _process_incoming(self) -> None:
        if self._adopt_context:
            self._adopt_context = False
            self._context = contextvars.copy_context()
            if self._app_transport is not None:
                self._app_transport._context = self._context
        state = self._state
        if state == WRAPPED:
            self._do_read()
        elif state == DO_HANDSHAKE:
            self._do_handshake()
        elif state == FLUSHING:
            self._do_flush(False)
        elif state == SHUTDOWN:
            self._do_shutdown(False)

    def eof_received(self) -> bool | None:
        """A TCP EOF. During the handshake it fails the handshake. After
        it, the data received before it still reaches the application
        (once it reads again, if it paused reading), then its
        ``eof_received()``, and the connection closes without
        close_notify. After ``close()`` it ends the shutdown."""
        try:
            if self._loop.get_debug():
                logger.debug("%r received EOF", self)
            state = self._state
            if state == DO_HANDSHAKE:
                self._on_handshake_complete(ConnectionResetError())
            elif state == WRAPPED:
                # What came before the EOF is delivered first (now, or when
                # the application reads again); then this layer closes the
                # transport below, which must not close itself meanwhile.
                self._eof_received = True
                if not self._app_reading_paused and not self._read_scheduled:
                    self._do_read()
                    if self._state == SHUTDOWN and self._app_state != APP_CON_MADE:
                        # All delivered, eof_received() called, the shutdown
                        # complete: the transport below closes now, as after
                        # any EOF, and connection_lost() follows without an
                        # extra turn of the loop.
                        return None
                return True
            elif state == FLUSHING or state == SHUTDOWN:
                self._eof_received = True
                if state == FLUSHING:
                    self._set_state(SHUTDOWN)
                self._call_eof_received(False)
                self._do_write()
                self._on_shutdown_complete(None)
        except Exception:
            if self._transport is not None:
                self._transport.close()
            raise
        return None

    def _on_eof_read(self) -> None:
        """Everything received before the TCP EOF is delivered: the
        application's eof_received(), then close without close_notify."""
        self._set_state(SHUTDOWN)
        self._call_eof_received(False)
        if self._state == SHUTDOWN:
            self._do_write()
            self._on_shutdown_complete(None)

    def pause_writing(self) -> None:
        """The transport below has too much to send: keep encrypted data
        in the outgoing buffer for now."""
        assert not self._ssl_writing_paused
        self._ssl_writing_paused = True

    def resume_writing(self) -> None:
        assert self._ssl_writing_paused
        self._ssl_writing_paused = False
        state = self._state
        if state == WRAPPED:
            self._process_outgoing()
            self._control_app_writing(False)
        elif state == FLUSHING:
            self._do_flush(False)
        elif state == SHUTDOWN:
            self._do_shutdown(False)

    # -- handshake --------------------------------------------------------------------

    def _start_handshake(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r starts SSL handshake", self)
            self._handshake_start_time = self._loop.time()
        else:
            self._handshake_start_time = None
        self._set_state(DO_HANDSHAKE)
        self._handshake_timeout_handle = self._loop.call_later(
            self._ssl_handshake_timeout, self._check_handshake_timeout)
        try:
            self._sslobj = self._sslcontext.wrap_bio(
                self._incoming, self._outgoing, server_side=self._server_side,
                server_hostname=self._server_hostname)
            self._sslobj_read = self._sslobj.read
            self._sslobj_write = self._sslobj.write
        except Exception as exc:
            self._on_handshake_complete(exc)
        else:
            self._do_handshake()

    def _check_handshake_timeout(self) -> None:
        self._handshake_timeout_handle = None
        if self._state == DO_HANDSHAKE:
            self._fatal_error(ConnectionAbortedError(
                f"SSL handshake is taking longer than {self._ssl_handshake_timeout} "
                f"seconds: aborting the connection"))

    def _do_handshake(self) -> None:
        try:
            self._sslobj.do_handshake()  # type: ignore[union-attr]
        except _SSL_AGAIN:
            self._process_outgoing()
        except ssl.SSLError as exc:
            self._on_handshake_complete(exc)
        else:
            self._on_handshake_complete(None)

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if self._handshake_timeout_handle is not None:
            self._handshake_timeout_handle.cancel()
            self._handshake_timeout_handle = None
        sslobj = self._sslobj
        try:
            if handshake_exc is not None:
                raise handshake_exc
            self._set_state(WRAPPED)
            peercert = sslobj.getpeercert()  # type: ignore[union-attr]
        except Exception as exc:
            self._set_state(UNWRAPPED)
            if isinstance(exc, ssl.CertificateError):
                msg = "SSL handshake failed on verifying the certificate"
            else:
                msg = "SSL handshake failed"
            self._fatal_error(exc, msg)
            self._wakeup_waiter(exc)
            return
        finally:
            del handshake_exc

        if self._loop.get_debug() and self._handshake_start_time is not None:
            dt = self._loop.time() - self._handshake_start_time
            logger.debug("%r: SSL handshake took %.1f ms", self, dt * 1e3)

        self._extra.update(peercert=peercert, cipher=sslobj.cipher(),  # type: ignore[union-attr]
                           compression=sslobj.compression(),  # type: ignore[union-attr]
                           ssl_object=sslobj)
        # The last flight (a TLS 1.3 server's, or the client's Finished)
        # may be waiting to go out.
        self._process_outgoing()
        if self._app_state == APP_INIT:
            self._app_state = APP_CON_MADE
            self._app_protocol.connection_made(self._get_app_transport())
        self._wakeup_waiter()
        # Application data that came with the handshake is read from a
        # later callback than the waiter's: whoever awaits start_tls() has
        # the new transport before the protocol sees any data.
        self._schedule_read()

    # -- shutdown ----------------------------------------------------------------------

    def _start_shutdown(self, app: bool = False) -> None:
        state = self._state
        if state in (FLUSHING, SHUTDOWN, UNWRAPPED):
            return
        if self._app_transport is not None:
            self._app_transport._closed = True
        if state == DO_HANDSHAKE:
            self._abort(None)
        else:
            self._set_state(FLUSHING)
            self._shutdown_timeout_handle = self._loop.call_later(
                self._ssl_shutdown_timeout, self._check_shutdown_timeout)
            self._do_flush(app)

    def _check_shutdown_timeout(self) -> None:
        self._shutdown_timeout_handle = None
        if self._state in (FLUSHING, SHUTDOWN) and self._transport is not None:
            _force_close(self._transport, asyncio.TimeoutError("SSL shutdown timed out"))

    def _do_read_into_void(self, app: bool) -> None:
        """Reads and discards application data; the peer's close_notify,
        the first time, calls ``eof_received``."""
        read = self._sslobj_read
        close_notify = False
        try:
            while True:
                if not read(SSL_READ_MAX_SIZE):
                    close_notify = True
                    break
        except _SSL_AGAIN:
            pass
        except ssl.SSLZeroReturnError:
            close_notify = True
        if close_notify:
            self._call_eof_received(app)

    def _do_flush(self, app: bool) -> None:
        """FLUSHING: sends what the application wrote before close(),
        discarding what arrives; then SHUTDOWN."""
        try:
            self._do_read_into_void(app)
            self._do_write()
            self._process_outgoing()
            self._control_ssl_reading()
        except Exception as exc:
            self._on_shutdown_complete(exc)
            return
        if self._state == FLUSHING and not self._get_write_buffer_size():
            self._set_state(SHUTDOWN)
            self._do_shutdown(app)

    def _do_shutdown(self, app: bool) -> None:
        """SHUTDOWN: sends close_notify and waits for the peer's, skipping
        application data that still arrives."""
        try:
            self._do_read_into_void(app)
            if self._state != SHUTDOWN:
                return
            try:
                self._sslobj.unwrap()  # type: ignore[union-attr]
            except _SSL_AGAIN:
                self._process_outgoing()
                if not self._eof_received:
                    return  # the peer's close_notify is still to come
            else:
                self._process_outgoing()
            if self._eof_received or not self._get_write_buffer_size():
                self._on_shutdown_complete(None)
        except Exception as exc:
            self._on_shutdown_complete(exc)

    def _on_shutdown_complete(self, shutdown_exc: BaseException | None) -> None:
        if self._shutdown_timeout_handle is not None:
            self._shutdown_timeout_handle.cancel()
            self._shutdown_timeout_handle = None
        if shutdown_exc is not None:
            self._fatal_error(shutdown_exc, "Error occurred during shutdown")
        elif self._transport is not None:
            if self._outgoing.pending:
                # The transport below sends what it has before closing.
                self._transport.write(self._outgoing_read())
            # From the next callback: this may run inside one of the
            # transport's own (resume_writing), which close() would reenter.
            self._loop.call_soon(self._transport.close)

    def _abort(self, exc: BaseException | None) -> None:
        self._set_state(UNWRAPPED)
        if self._transport is not None:
            _force_close(self._transport, exc)

    # -- outgoing ---------------------------------------------------------------------

    def _write_one(self, data: Any) -> None:
        """`SSLTransport.write` of non-empty data: encrypt and pass on at
        once in the common case."""
        if self._state != WRAPPED or self._write_backlog:
            self._write_appdata((data,))
            return
        try:
            try:
                count = self._sslobj_write(data)
            except _SSL_AGAIN:
                count = 0
            if count != (len(data) if type(data) is bytes else _nbytes(data)):
                self._write_appdata((memoryview(data).cast("B")[count:],))
                return
            if not self._ssl_writing_paused:
                self._transport.write(self._outgoing_read())
            if (self._app_writing_paused or self._outgoing.pending + self._write_buffer_size
                    >= self._outgoing_high_water):
                self._control_app_writing(True)
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def _write_appdata(self, list_of_data: Iterable[Any]) -> None:
        state = self._state
        if state != WRAPPED and state != DO_HANDSHAKE:
            if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("SSL connection is closed")
            self._conn_lost += 1
            return
        backlog = self._write_backlog
        try:
            for data in list_of_data:
                if not backlog and state == WRAPPED:
                    # Encrypt at once; keep only what the SSL object could
                    # not take (renegotiation in progress).
                    try:
                        count = self._sslobj_write(data)
                    except _SSL_AGAIN:
                        count = 0
                    if count >= _nbytes(data):
                        continue
                    data = memoryview(data).cast("B")[count:]
                if type(data) is not bytes:
                    # Keep a copy: the application may reuse its buffer.
                    data = bytes(data)
                if data:
                    backlog.append(data)
                    self._write_buffer_size += len(data)
            if state == WRAPPED:
                self._process_outgoing()
                self._control_app_writing(True)
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def _do_write(self) -> None:
        """Encrypts the backlog into the outgoing buffer."""
        backlog = self._write_backlog
        write = self._sslobj.write  # type: ignore[union-attr]
        try:
            while backlog:
                data = backlog[0]
                count = write(data)
                data_len = len(data)
                if count < data_len:
                    backlog[0] = memoryview(data)[count:]
                    self._write_buffer_size -= count
                else:
                    backlog.popleft()
                    self._write_buffer_size -= data_len
        except _SSL_AGAIN:
            pass

    def _process_outgoing(self) -> None:
        """Passes encrypted bytes to the transport below, unless it asked
        us to wait."""
        if not self._ssl_writing_paused:
            data = self._outgoing_read()
            if data:
                self._transport.write(data)

    # -- incoming ---------------------------------------------------------------------

    def _schedule_read(self) -> None:
        if not self._read_scheduled:
            self._read_scheduled = True
            self._loop.call_soon(self._scheduled_read, context=self._context)

    def _scheduled_read(self) -> None:
        self._read_scheduled = False
        self._do_read()

    def _do_read(self) -> None:
        if self._state != WRAPPED:
            return
        try:
            if not self._app_reading_paused:
                if self._app_protocol_is_buffer:
                    self._do_read_buffered()
                else:
                    self._do_read_copied()
                if self._eof_received:
                    if (self._state == WRAPPED and not self._app_reading_paused
                            and not self._read_scheduled):
                        self._on_eof_read()
                    return
                if self._write_backlog:
                    self._do_write()
                if self._outgoing.pending:
                    self._process_outgoing()
                if (self._app_writing_paused or self._outgoing.pending + self._write_buffer_size
                        >= self._outgoing_high_water):
                    self._control_app_writing(False)
            if self._ssl_reading_paused or self._incoming.pending >= self._incoming_high_water:
                self._control_ssl_reading()
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def _do_read_buffered(self) -> None:
        incoming = self._incoming
        sslobj = self._sslobj
        pending = incoming.pending + sslobj.pending()  # type: ignore[union-attr]
        # A little extra: what is pending is still encrypted.
        buf = self._app_protocol_get_buffer(pending + 256)
        view = memoryview(buf).cast("B")
        size = view.nbytes
        if not size:
            raise RuntimeError("get_buffer() returned an empty buffer")
        read = self._sslobj_read
        total = 0
        last = -1
        try:
            while incoming.pending or sslobj.pending():  # type: ignore[union-attr]
                last = read(size - total, view[total:] if total else view)
                if not last:
                    break
                total += last
                if total == size:
                    # The buffer is full: the rest from a later callback.
                    self._schedule_read()
                    break
        except _SSL_AGAIN:
            pass
        if total:
            self._app_protocol_buffer_updated(total)
        if last == 0:
            self._on_close_notify()

    def _do_read_copied(self) -> None:
        incoming = self._incoming
        sslobj = self._sslobj
        read = self._sslobj_read
        first = None
        chunks = None
        eof = False
        try:
            while incoming.pending or sslobj.pending():  # type: ignore[union-attr]
                chunk = read(SSL_READ_MAX_SIZE)
                if not chunk:
                    eof = True
                    break
                if first is None:
                    first = chunk
                elif chunks is None:
                    chunks = [first, chunk]
                else:
                    chunks.append(chunk)
        except _SSL_AGAIN:
            pass
        if chunks is not None:
            self._app_protocol.data_received(b"".join(chunks))
        elif first is not None:
            self._app_protocol.data_received(first)
        if eof:
            self._on_close_notify()

    def _on_close_notify(self) -> None:
        self._call_eof_received(False)
        self._start_shutdown()

    def _call_eof_received(self, app: bool) -> None:
        if self._app_state != APP_CON_MADE:
            return
        self._app_state = APP_EOF
        try:
            keep_open = self._call_app(app, self._app_protocol.eof_received)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Error calling eof_received()")
        else:
            # (A TLS layer inside this one keeps its transport open to
            # finish its own work; this one closes anyway, as it must.)
            if keep_open and not isinstance(self._app_protocol, SSLProtocol):
                logger.warning("returning true from eof_received() has no effect when using ssl")

    def _resume_reading(self) -> None:
        if self._app_reading_paused:
            self._app_reading_paused = False
            if self._state == WRAPPED:
                self._schedule_read()

    # -- flow control -------------------------------------------------------------------

    def _control_app_writing(self, app: bool) -> None:
        size = self._get_write_buffer_size()
        if size >= self._outgoing_high_water and not self._app_writing_paused:
            self._app_writing_paused = True
            name = "pause_writing"
        elif size <= self._outgoing_low_water and self._app_writing_paused:
            self._app_writing_paused = False
            name = "resume_writing"
        else:
            return
        protocol = self._app_protocol
        if protocol is None:
            return
        try:
            self._call_app(app, getattr(protocol, name))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{name}() failed",
                "exception": exc,
                "transport": self._app_transport,
                "protocol": protocol,
            })

    def _get_write_buffer_size(self) -> int:
        return self._outgoing.pending + self._write_buffer_size

    def _set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._outgoing_high_water, self._outgoing_low_water = add_flowcontrol_defaults(
            high, low, FLOW_CONTROL_HIGH_WATER_SSL_WRITE)

    def _control_ssl_reading(self) -> None:
        transport = self._transport
        if transport is None or self._eof_received:
            return  # (after EOF the transport below reads no more)
        size = self._incoming.pending
        if size >= self._incoming_high_water and not self._ssl_reading_paused:
            self._ssl_reading_paused = True
            transport.pause_reading()
        elif size <= self._incoming_low_water and self._ssl_reading_paused:
            self._ssl_reading_paused = False
            transport.resume_reading()

    def _set_read_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._incoming_high_water, self._incoming_low_water = add_flowcontrol_defaults(
            high, low, FLOW_CONTROL_HIGH_WATER_SSL_READ)

    def _get_read_buffer_size(self) -> int:
        return self._incoming.pending

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        transport = self._transport
        if self._app_transport is not None:
            self._app_transport._force_close(exc)
        elif transport is not None:
            _force_close(transport, exc)
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        elif not isinstance(exc, asyncio.CancelledError):
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": transport,
                "protocol": self,
            })

# Included by _core.pyx: the Cython stream transport (TCP and Unix sockets).
#
# Same behaviour as ioloop._transports.SocketTransport, with the hot path in
# C: the fd sits in the loop's table as KIND_TRANSPORT and events reach
# _on_events() directly (no Handle, no reader/writer callbacks); reads go
# through recv() into one static buffer. Writes are queued and flushed once
# per loop iteration, as uvloop does: write() appends to the buffer and puts
# the transport in the loop's write queue; at the end of the iteration the
# loop sends each queued buffer (send() for one chunk, sendmsg() over up to
# IOV_BATCH chunks), and what the kernel does not take waits for EPOLLOUT.
# A write that takes the buffer over the high-water mark is sent at once
# when nothing is waiting for EPOLLOUT, so flow control still sees the
# kernel's progress. Protocol callbacks run in the context captured when
# the transport was made.

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.contextvars cimport PyContext_Copy

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_recv "recv" (int fd, void *buf, size_t n, int flags)
    ssize_t c_send "send" (int fd, const void *buf, size_t n, int flags)
    int c_shutdown "shutdown" (int fd, int how)
    enum:
        MSG_NOSIGNAL
        SHUT_WR

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    struct msghdr:
        void *msg_name
        unsigned int msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    ssize_t c_sendmsg "sendmsg" (int fd, const msghdr *msg, int flags)

from libc.errno cimport EAGAIN, ENOTCONN  # EWOULDBLOCK == EAGAIN on Linux

import asyncio as _asyncio
from asyncio import protocols as _aprotocols, trsock as _trsock, constants as _aconstants

cdef enum:
    READ_CHUNK = 256 * 1024
    IOV_BATCH = 64
    LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5

# One read buffer for every transport: recv() into it and copy the bytes
# received into the bytes object given to data_received(). The GIL is held
# from recv() to the copy.
cdef char _read_buf[READ_CHUNK]

_BufferedProtocol = _aprotocols.BufferedProtocol
_PlainProtocol = _aprotocols.Protocol
_TRY_NATIVE = _aconstants._SendfileMode.TRY_NATIVE


cdef object _errno_error(int err):
    return OSError(err, _os.strerror(err))


cdef bytes _bytes_of(object data):
    """A private copy (the caller may reuse its buffer) of a bytes-like
    object's bytes. Any C-contiguous buffer, as uvloop's write()."""
    cdef Py_buffer view
    try:
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"data argument must be a bytes-like object, "
                        f"not {type(data).__name__!r}") from None
    except BufferError:
        raise TypeError(f"data argument must be a C-contiguous bytes-like object, "
                        f"not a non-contiguous {type(data).__name__!r}") from None
    try:
        return PyBytes_FromStringAndSize(<char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef class StreamCore:
    """The C state and hot paths of a StreamTransport.

    The protocol, the server and the loop's transport map only ever see the
    StreamTransport (``face``), a real asyncio.Transport; the core is what
    the loop's fd table dispatches to.  The core holds the face until
    connection_lost() (a cycle, broken there); the face holds the core.
    """

    def __cinit__(self, face, Loop loop, sock, protocol, waiter=None, extra=None, server=None):
        self._face = face
        self._loop_c = loop
        self._loop = loop
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._extra = {} if extra is None else dict(extra)
        self._extra["socket"] = _TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._wbuf = []
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024
        # Every protocol callback runs in this context (uvloop's rule).
        self._context = PyContext_CopyCurrent()
        self.set_protocol(protocol)
        self._server = server
        if server is not None:
            server._attach(face)
        loop._transports[self._sock_fd] = face
        _set_nodelay(sock)
        loop._call_soon(protocol.connection_made, (face,), self._context)
        loop._call_soon(self._start_reading, (), None)
        if waiter is not None:
            loop._call_soon(_set_result_unless_cancelled, (waiter, None), None)

    def __repr__(self):
        state = "closed" if self._sock is None else ("closing " if self._closing else "")
        if self._sock is None:
            return f"<StreamTransport closed fd={self._sock_fd}>"
        return f"<StreamTransport {state}fd={self._sock_fd}>".replace("  ", " ")

    def __dealloc__(self):
        pass

    def __del__(self):
        if self._sock is not None:
            _warnings.warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()
            self._sock = None

    # -- registration -----------------------------------------------------------

    cdef int _set_mask(self, uint32_t mask) except -1:
        if mask == self._mask or self._sock is None:
            return 0
        self._loop_c._transport_ctl(self._sock_fd, self, mask)
        self._mask = mask
        return 0

    cdef int _on_events(self, uint32_t events) except -1:
        if events & (EPOLLIN | EPOLLERR | EPOLLHUP) and self._mask & EPOLLIN:
            PyContext_Enter(self._context)
            # What the protocol writes from its read callbacks is sent when
            # they return, not queued for the end of the iteration.
            self._in_read = True
            try:
                if self._buffered:
                    self._read_ready_buffered()
                else:
                    self._read_ready()
                self._in_read = False
                if self._wfirst is not None:
                    self._exec_write()
            except BaseException:
                # KeyboardInterrupt or SystemExit: queue what was written.
                self._in_read = False
                if self._wfirst is not None and not (self._queued or self._mask & EPOLLOUT):
                    self._loop_c._queue_stream(self)
                    self._queued = True
                raise
            finally:
                PyContext_Exit(self._context)
        if events & (EPOLLOUT | EPOLLERR | EPOLLHUP) and self._mask & EPOLLOUT:
            self._write_ready()
        return 0

    def _start_reading(self):
        if not self._closing and not self._paused and not self._read_eof_seen:
            self._set_mask(self._mask | EPOLLIN)

    # -- asyncio.BaseTransport ------------------------------------------------

    def set_protocol(self, protocol):
        # Buffered reads for a BufferedProtocol, and for any other protocol
        # (not an asyncio.Protocol) with get_buffer() and buffer_updated(),
        # as uvloop decides. data_received is looked up when data arrives:
        # a protocol without one fails then (fatal error, connection_lost).
        get_buffer = buffer_updated = None
        if isinstance(protocol, _BufferedProtocol) or not isinstance(protocol, _PlainProtocol):
            get_buffer = getattr(protocol, "get_buffer", None)
            buffer_updated = getattr(protocol, "buffer_updated", None)
        self._protocol = protocol
        if get_buffer is not None and buffer_updated is not None:
            self._buffered = True
            self._get_buffer = get_buffer
            self._buffer_updated = buffer_updated
            self._data_received = None
        else:
            self._buffered = False
            self._data_received = getattr(protocol, "data_received", None)
            self._get_buffer = self._buffer_updated = None
        self._protocol_connected = True

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._set_mask(self._mask & ~(<uint32_t>EPOLLIN))
        if self._wfirst is None:
            self._conn_lost += 1
            self._loop_c._call_soon(self._call_connection_lost, (None,), self._context)
        # Otherwise the queued data is flushed first (_write_done).

    def abort(self):
        self._force_close(None)

    # -- reading ----------------------------------------------------------------

    def is_reading(self):
        return not self._paused and not self._closing

    def pause_reading(self):
        if self._paused or self._closing:
            return
        self._paused = True
        self._set_mask(self._mask & ~(<uint32_t>EPOLLIN))

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        if not self._read_eof_seen:
            self._set_mask(self._mask | EPOLLIN)

    cdef int _read_ready(self) except -1:
        cdef ssize_t n
        cdef int err
        if self._conn_lost:
            return 0
        while True:
            n = c_recv(self._sock_fd, _read_buf, READ_CHUNK, 0)
            if n >= 0:
                break
            err = errno
            if err == EINTR:
                continue
            if err == EAGAIN:
                return 0
            self._fatal_error(_errno_error(err), "Fatal read error on socket transport")
            return 0
        if n == 0:
            self._read_eof()
            return 0
        data = PyBytes_FromStringAndSize(_read_buf, n)
        try:
            if self._data_received is None:
                # No data_received on the protocol: the AttributeError is
                # the fatal error.
                self._protocol.data_received(data)
            else:
                self._data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
        return 0

    cdef int _read_ready_buffered(self) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        cdef int err
        if self._conn_lost:
            return 0
        try:
            buf = self._get_buffer(-1)
            try:
                PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
            except BufferError:
                raise TypeError(f"get_buffer() must return a writable bytes-like "
                                f"object, not {type(buf).__name__}") from None
            if view.len == 0:
                PyBuffer_Release(&view)
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # uvloop's error, with the cause chained.
            err_exc = RuntimeError("unhandled error (or an empty buffer) in get_buffer()")
            err_exc.__cause__ = exc
            self._fatal_error(err_exc, "Fatal error: protocol.get_buffer() call failed.")
            return 0
        while True:
            n = c_recv(self._sock_fd, view.buf, view.len, 0)
            if n >= 0 or errno != EINTR:
                break
        err = errno
        PyBuffer_Release(&view)
        if n < 0:
            if err == EAGAIN:
                return 0
            self._fatal_error(_errno_error(err), "Fatal read error on socket transport")
            return 0
        if n == 0:
            self._read_eof()
            return 0
        try:
            self._buffer_updated(n)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
        return 0

    cdef int _read_eof(self) except -1:
        if self._loop_c._debug_enabled:
            _logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return 0
        if keep_open:
            # Nothing more to read; the write side stays usable.
            self._read_eof_seen = True
            self._set_mask(self._mask & ~(<uint32_t>EPOLLIN))
        else:
            self.close()
        return 0

    # -- writing ----------------------------------------------------------------

    def write(self, data):
        cdef Py_ssize_t size
        if type(data) is not bytes:
            data = _bytes_of(data)
        size = PyBytes_GET_SIZE(data)
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if size == 0:
            return
        if self._conn_lost:
            if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                _logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if self._wfirst is None:
            self._wfirst = data
        else:
            self._wbuf.append(data)
        self._wsize += size
        if self._wsize > self._high_water and not self._protocol_paused:
            if self._mask & EPOLLOUT:
                # Behind data the kernel did not take yet.
                self._pause_protocol()
            else:
                # Over the high-water mark with nothing pending in the
                # kernel: send now (uvloop's fast path), pause only if it
                # does not all fit.
                self._exec_write()
        elif not (self._queued or self._in_read or self._mask & EPOLLOUT):
            self._loop_c._queue_stream(self)
            self._queued = True

    def writelines(self, list_of_data):
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        chunks = list(list_of_data)
        try:
            data = b"".join(chunks)
        except TypeError:
            for chunk in chunks:
                if type(chunk) is not bytes:
                    _bytes_of(chunk)  # raises, naming what is wrong
            raise
        self.write(data)

    cdef int _consume(self, Py_ssize_t n) except -1:
        """Drop the first n buffered bytes (sent)."""
        cdef Py_ssize_t left = n + self._wpos, size, i = 0, cnt
        self._wsize -= n
        size = PyBytes_GET_SIZE(self._wfirst)
        if left < size:
            self._wpos = left
            return 0
        left -= size
        cnt = PyList_GET_SIZE(self._wbuf)
        while i < cnt:
            size = PyBytes_GET_SIZE(<object>PyList_GET_ITEM(self._wbuf, i))
            if left < size:
                break
            left -= size
            i += 1
        if i < cnt:
            self._wfirst = <object>PyList_GET_ITEM(self._wbuf, i)
            del self._wbuf[:i + 1]
        else:
            self._wfirst = None
            if cnt:
                del self._wbuf[:]
        self._wpos = left
        return 0

    cdef int _send_failed(self, int err) except -1:
        """send()/sendmsg() failed with err (not EAGAIN): drop the buffer,
        fatal error."""
        exc = _errno_error(err)
        self._wfirst = None
        if PyList_GET_SIZE(self._wbuf):
            del self._wbuf[:]
        self._wpos = self._wsize = 0
        self._set_mask(self._mask & ~(<uint32_t>EPOLLOUT))
        self._fatal_error(exc, "Fatal write error on socket transport")
        if self._empty_waiter is not None and not self._empty_waiter.done():
            self._empty_waiter.set_exception(exc)
        return 0

    cdef Py_ssize_t _send_buffered(self) except -2:
        """Send until the buffer is empty or the kernel stops taking data.
        Returns the bytes sent, or -1 after a fatal error (buffer dropped)."""
        cdef iovec iov[IOV_BATCH]
        cdef msghdr msg
        cdef Py_ssize_t i, cnt, total = 0, want
        cdef ssize_t n
        cdef int err = 0
        cdef object chunk
        while self._wfirst is not None:
            chunk = self._wfirst
            cnt = PyList_GET_SIZE(self._wbuf)
            if cnt == 0:
                want = PyBytes_GET_SIZE(chunk) - self._wpos
                while True:
                    n = c_send(self._sock_fd, PyBytes_AS_STRING(chunk) + self._wpos, want,
                               MSG_NOSIGNAL)
                    if n >= 0:
                        break
                    err = errno
                    if err != EINTR:
                        break
            else:
                if cnt >= IOV_BATCH:
                    cnt = IOV_BATCH - 1
                iov[0].iov_base = PyBytes_AS_STRING(chunk) + self._wpos
                iov[0].iov_len = PyBytes_GET_SIZE(chunk) - self._wpos
                want = iov[0].iov_len
                for i in range(cnt):
                    chunk = <object>PyList_GET_ITEM(self._wbuf, i)
                    iov[i + 1].iov_base = PyBytes_AS_STRING(chunk)
                    iov[i + 1].iov_len = PyBytes_GET_SIZE(chunk)
                    want += PyBytes_GET_SIZE(chunk)
                memset(&msg, 0, sizeof(msg))
                msg.msg_iov = iov
                msg.msg_iovlen = cnt + 1
                while True:
                    n = c_sendmsg(self._sock_fd, &msg, MSG_NOSIGNAL)
                    if n >= 0:
                        break
                    err = errno
                    if err != EINTR:
                        break
            if n < 0:
                if err == EAGAIN:
                    return total
                self._send_failed(err)
                return -1
            total += n
            self._consume(n)
            if n < want:
                return total  # the kernel is full
        return total

    cdef int _exec_write(self) except -1:
        """Send the buffer now: the loop's end-of-iteration flush, and
        write()'s fast path."""
        cdef object chunk = self._wfirst
        cdef Py_ssize_t want
        cdef ssize_t n
        cdef int err
        if chunk is None or self._conn_lost or self._mask & EPOLLOUT:
            return 0
        if PyList_GET_SIZE(self._wbuf) == 0:
            # One chunk (the usual case): one send().
            want = PyBytes_GET_SIZE(chunk) - self._wpos
            n = c_send(self._sock_fd, PyBytes_AS_STRING(chunk) + self._wpos, want, MSG_NOSIGNAL)
            if n == want:
                self._wfirst = None
                self._wpos = self._wsize = 0
                if (self._protocol_paused or self._closing or self._eof
                        or self._empty_waiter is not None):
                    self._write_done()
                return 0
            if n >= 0:
                self._consume(n)
            else:
                err = errno
                if err == EINTR:
                    if self._send_buffered() < 0:
                        return 0
                elif err != EAGAIN:
                    self._send_failed(err)
                    return 0
        elif self._send_buffered() < 0:
            return 0
        if self._wfirst is None:
            self._write_done()
        else:
            self._kernel_full()
        return 0

    cdef int _kernel_full(self) except -1:
        # The rest goes when the socket is writable.
        try:
            self._set_mask(self._mask | EPOLLOUT)
        except OSError as exc:
            self._fatal_error(exc, "Fatal write error on socket transport")
            return 0
        if self._protocol_paused:
            if self._wsize <= self._low_water:
                self._resume_protocol()
        elif self._wsize > self._high_water:
            self._pause_protocol()
        return 0

    cdef int _write_ready(self) except -1:
        if self._conn_lost or self._wfirst is None:
            self._set_mask(self._mask & ~(<uint32_t>EPOLLOUT))
            return 0
        if self._send_buffered() < 0:
            return 0
        if self._wfirst is not None:
            if self._protocol_paused and self._wsize <= self._low_water:
                self._resume_protocol()
        else:
            self._set_mask(self._mask & ~(<uint32_t>EPOLLOUT))
            self._write_done()
        return 0

    cdef int _write_done(self) except -1:
        # The buffer was sent. resume_writing() may write again.
        if self._protocol_paused and self._wsize <= self._low_water:
            self._resume_protocol()
        if self._wfirst is not None:
            return 0
        if self._empty_waiter is not None and not self._empty_waiter.done():
            self._empty_waiter.set_result(None)
        if self._closing:
            if not self._conn_lost:
                self._conn_lost += 1
                self._loop_c._call_soon(self._call_connection_lost, (None,), self._context)
        elif self._eof:
            try:
                self._shutdown_write()
            except OSError as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
        return 0

    def _shutdown_write(self):
        if c_shutdown(self._sock_fd, SHUT_WR) < 0 and errno != ENOTCONN:
            raise _errno_error(errno)

    def write_eof(self):
        if self._closing or self._eof:
            return
        self._eof = True
        if self._wfirst is None:
            self._shutdown_write()
        # Otherwise after the queued data (_write_done).

    def can_write_eof(self):
        return True

    def get_write_buffer_size(self):
        return self._wsize

    def set_write_buffer_limits(self, high=None, low=None):
        high, low = _check_buffer_limits(high, low)
        self._high_water = high
        self._low_water = low
        if not self._protocol_paused and self._wsize > self._high_water:
            self._pause_protocol()

    def get_write_buffer_limits(self):
        return (self._low_water, self._high_water)

    # pause_writing()/resume_writing() run in a copy of the transport's
    # context: they are called from write() and friends, possibly inside a
    # protocol callback that already runs in the transport's context (which
    # cannot be entered twice).
    cdef int _pause_protocol(self) except -1:
        self._protocol_paused = True
        ctx = PyContext_Copy(self._context)
        PyContext_Enter(ctx)
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": "protocol.pause_writing() failed",
                "exception": exc,
                "transport": self._face,
                "protocol": self._protocol,
            })
        finally:
            PyContext_Exit(ctx)
        return 0

    cdef int _resume_protocol(self) except -1:
        self._protocol_paused = False
        ctx = PyContext_Copy(self._context)
        PyContext_Enter(ctx)
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": "protocol.resume_writing() failed",
                "exception": exc,
                "transport": self._face,
                "protocol": self._protocol,
            })
        finally:
            PyContext_Exit(ctx)
        return 0

    # -- closing ------------------------------------------------------------------

    def _fatal_error(self, exc, message="Fatal error on transport"):
        if isinstance(exc, OSError):
            if self._loop_c._debug_enabled:
                _logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self._face,
                "protocol": self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._wfirst is not None:
            self._wfirst = None
            if PyList_GET_SIZE(self._wbuf):
                del self._wbuf[:]
            self._wpos = self._wsize = 0
        self._closing = True
        self._set_mask(0)
        self._conn_lost += 1
        self._loop_c._call_soon(self._call_connection_lost, (exc,), self._context)

    def _call_connection_lost(self, exc):
        if self._sock is None:
            return
        self._set_mask(0)
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            sock = self._sock
            transports = self._loop._transports
            if transports.get(self._sock_fd) is self._face:
                del transports[self._sock_fd]
            self._sock = None
            sock.close()
            # Like uvloop: no socket once the transport let it go.
            self._extra.pop("socket", None)
            self._protocol = None
            self._data_received = self._get_buffer = self._buffer_updated = None
            server = self._server
            self._server = None
            if server is not None:
                server._detach(self._face)
            if self._empty_waiter is not None and not self._empty_waiter.done():
                self._empty_waiter.set_exception(
                    ConnectionError("Connection is closed by peer"))
            self._face = None

    # -- sendfile support -----------------------------------------------------------

    def _make_empty_waiter(self):
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if self._wfirst is None:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self):
        self._empty_waiter = None


class StreamTransport(_asyncio.Transport):
    """A TCP or Unix stream transport: an asyncio.Transport run by StreamCore.

    The methods a protocol calls per message (write, writelines, is_closing,
    pause_reading, resume_reading) are the core's own C methods, bound on
    each instance, so they cost no extra Python frame.
    """

    _start_tls_compatible = True
    _sendfile_compatible = _TRY_NATIVE

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None):
        core = StreamCore(self, loop, sock, protocol, waiter, extra, server)
        self._core = core
        self._extra = core._extra
        self.write = core.write
        self.writelines = core.writelines
        self.is_closing = core.is_closing
        self.pause_reading = core.pause_reading
        self.resume_reading = core.resume_reading

    def __repr__(self):
        return repr(self._core)

    # Bound per instance in __init__; listed here for the class interface.
    def write(self, data):
        self._core.write(data)

    def writelines(self, list_of_data):
        self._core.writelines(list_of_data)

    def is_closing(self):
        return self._core.is_closing()

    def pause_reading(self):
        self._core.pause_reading()

    def resume_reading(self):
        self._core.resume_reading()

    def set_protocol(self, protocol):
        self._core.set_protocol(protocol)

    def get_protocol(self):
        return self._core.get_protocol()

    def close(self):
        self._core.close()

    def abort(self):
        self._core.abort()

    def is_reading(self):
        return self._core.is_reading()

    def write_eof(self):
        self._core.write_eof()

    def can_write_eof(self):
        return True

    def get_write_buffer_size(self):
        return self._core.get_write_buffer_size()

    def set_write_buffer_limits(self, high=None, low=None):
        self._core.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self):
        return self._core.get_write_buffer_limits()

    # Internals used by asyncio's sendfile and TLS layers and by ioloop.
    def _force_close(self, exc):
        self._core._force_close(exc)

    def _fatal_error(self, exc, message="Fatal error on transport"):
        self._core._fatal_error(exc, message)

    def _make_empty_waiter(self):
        return self._core._make_empty_waiter()

    def _reset_empty_waiter(self):
        self._core._reset_empty_waiter()

    @property
    def _loop(self):
        return self._core._loop

    @property
    def _sock(self):
        return self._core._sock

    @property
    def _sock_fd(self):
        return self._core._sock_fd

    @property
    def _server(self):
        return self._core._server

    @property
    def _empty_waiter(self):
        return self._core._empty_waiter

    @property
    def _protocol_paused(self):
        return self._core._protocol_paused

    # The state asyncio's selector transports (and ioloop's Python one)
    # expose, read by code written against them.
    @property
    def _protocol(self):
        return self._core._protocol

    @property
    def _closing(self):
        return self._core._closing

    @property
    def _paused(self):
        return self._core._paused

    @property
    def _eof(self):
        return self._core._eof

    @property
    def _conn_lost(self):
        return self._core._conn_lost

    @property
    def _high_water(self):
        return self._core._high_water

    @property
    def _low_water(self):
        return self._core._low_water

    @property
    def _context(self):
        return self._core._context


def _set_result_unless_cancelled(fut, result):
    if not fut.cancelled():
        fut.set_result(result)


from ._transports import (check_buffer_limits as _check_buffer_limits,
                          set_nodelay as _set_nodelay, TransportSocket as _TransportSocket)
import warnings as _warnings

# Included by _core.pyx: the hot paths of the stream transport (TCP and Unix
# sockets) on the compiled engine.
#
# ioloop._transports.StreamTransport is the transport (the one asyncio
# object a protocol sees, with every cold path: close, abort, EOF, flow
# control, errors); StreamCore is its core here, with the same interface as
# the pure-Python core in _transports.py. The fd sits in the loop's table as
# KIND_TRANSPORT and events reach _on_events() directly (no Handle, no
# reader/writer callbacks); reads go through recv() into one static buffer.
# Writes are queued and flushed once per loop iteration, as uvloop does:
# write() appends to the buffer and puts the core in the loop's write queue;
# at the end of the iteration the loop sends each queued buffer (send() for
# one chunk, sendmsg() over up to IOV_BATCH chunks), and what the kernel
# does not take waits for EPOLLOUT. A write that takes the buffer over the
# high-water mark is sent at once when nothing is waiting for EPOLLOUT, so
# flow control still sees the kernel's progress. Protocol callbacks run in
# the context captured when the transport was made. The core calls the
# transport (its ``_face``) only on cold transitions.

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE


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

from asyncio import protocols as _aprotocols

# Mirrors of ioloop._transports' constants (tests/test_transport_parity.py
# checks they agree): C needs them at compile time.
cpdef enum:
    READ_CHUNK = 256 * 1024
    IOV_BATCH = 64
    LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5

# One read buffer for every transport: recv() into it and copy the bytes
# received into the bytes object given to data_received(). The GIL is held
# from recv() to the copy.
cdef char _read_buf[READ_CHUNK]

_BufferedProtocol = _aprotocols.BufferedProtocol
_PlainProtocol = _aprotocols.Protocol


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
    """The C state and hot paths of a StreamTransport (its ``_face``).

    The protocol, the server and the loop's transport map only ever see the
    StreamTransport, a real asyncio.Transport; the core is what the loop's
    fd table dispatches to. The core holds the face until connection_lost()
    (a cycle, broken there by ``_detach``); the face holds the core.
    """

    def __cinit__(self, face, Loop loop, sock, protocol):
        self._face = face
        self._loop_c = loop
        self._sock_fd = sock.fileno()
        self._wbuf = []
        # Every protocol callback runs in this context (uvloop's rule).
        self._context = PyContext_CopyCurrent()
        self._set_protocol(protocol)

    def __repr__(self):
        return f"<StreamCore of {self._face!r}>"

    # -- registration -----------------------------------------------------------

    cdef int _set_mask(self, uint32_t mask) except -1:
        if mask == self._mask or self._detached:
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
        if not self._closing and not self._paused:
            self._set_mask(self._mask | EPOLLIN)

    def _stop_reading(self):
        self._set_mask(self._mask & ~(<uint32_t>EPOLLIN))

    def _set_events(self, bint reading, bint writing):
        """Watch the socket for reading and writing, or stop."""
        self._set_mask((EPOLLIN if reading else 0) | (EPOLLOUT if writing else 0))

    def _detach(self):
        """After connection_lost: nothing more to watch or call."""
        self._set_mask(0)
        self._detached = True
        self._protocol = None
        self._data_received = self._get_buffer = self._buffer_updated = None
        self._face = None

    def _set_protocol(self, protocol):
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

    def is_closing(self):
        return self._closing

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
            self._face._fatal_error(_errno_error(err), "Fatal read error on socket transport")
            return 0
        if n == 0:
            self._face._read_eof()
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
            self._face._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
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
            self._face._fatal_error(err_exc, "Fatal error: protocol.get_buffer() call failed.")
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
            self._face._fatal_error(_errno_error(err), "Fatal read error on socket transport")
            return 0
        if n == 0:
            self._face._read_eof()
            return 0
        try:
            self._buffer_updated(n)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._face._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
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
                self._face._maybe_pause_protocol()
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
        self._face._write_failed(exc)
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
            self._face._fatal_error(exc, "Fatal write error on socket transport")
            return 0
        if self._protocol_paused:
            if self._wsize <= self._low_water:
                self._face._maybe_resume_protocol()
        elif self._wsize > self._high_water:
            self._face._maybe_pause_protocol()
        return 0

    cdef int _write_ready(self) except -1:
        if self._conn_lost or self._wfirst is None:
            self._set_mask(self._mask & ~(<uint32_t>EPOLLOUT))
            return 0
        if self._send_buffered() < 0:
            return 0
        if self._wfirst is not None:
            if self._protocol_paused and self._wsize <= self._low_water:
                self._face._maybe_resume_protocol()
        else:
            self._set_mask(self._mask & ~(<uint32_t>EPOLLOUT))
            self._write_done()
        return 0

    cdef int _write_done(self) except -1:
        # The buffer was sent: the transport's cold transitions, if any.
        if (self._protocol_paused or self._closing or self._eof
                or self._empty_waiter is not None):
            self._face._write_done()
        return 0

    def _shutdown_write(self):
        if c_shutdown(self._sock_fd, SHUT_WR) < 0 and errno != ENOTCONN:
            raise _errno_error(errno)

    def get_write_buffer_size(self):
        return self._wsize

    def _drop_buffer(self):
        if self._wfirst is not None:
            self._wfirst = None
            if PyList_GET_SIZE(self._wbuf):
                del self._wbuf[:]
            self._wpos = self._wsize = 0

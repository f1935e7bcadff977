# cython: language_level=3
from libc.stdint cimport uint32_t, uint64_t
from cpython.ref cimport PyObject

from .includes.linux cimport epoll_event


cdef struct FdEntry:
    # One slot per fd number; ``kind`` 0 means free.
    uint32_t gen          # generation tag, also in epoll_data's high half
    uint32_t events       # mask currently registered with the kernel
    int kind              # 0 free, 1 classic add_handler, 2 asyncio reader/writer
    uint32_t streak       # consecutive polls in which this fd fired
    uint64_t last_iter    # poll (batch) of the last event
    uint64_t changed_batch
    uint64_t dev          # st_dev/st_ino at registration: detects reuse
    uint64_t ino
    PyObject *obj         # classic: the object passed to add_handler
    PyObject *reader      # classic: handler Handle; asyncio: reader Handle
    PyObject *writer      # asyncio: writer Handle


cdef struct ReadyItem:
    # Either a Handle (call_soon: it can be cancelled) or, for add_callback,
    # the callback's parts directly: no Python object per callback.
    PyObject *handle
    PyObject *callback
    PyObject *args
    PyObject *kwargs
    PyObject *context


cdef enum:
    # Loop-lag histogram: bucket 0 counts lags under 1 us, bucket i lags of
    # [2**(i-1), 2**i) us, the last one everything from 2**(LAG_BUCKETS-2) us.
    LAG_BUCKETS = 24


cdef struct LoopStats:
    # Always-on telemetry (IOLoop.stats()): plain counters that only the
    # loop's thread writes, read under the GIL from any thread. Durations in
    # "ticks" are cycle-counter readings (see _core.pyx).
    uint64_t callbacks         # ready-queue callbacks started
    uint64_t timers_run
    uint64_t io_run            # I/O handlers (classic, readers, writers, transports)
    uint64_t timers_cancelled
    uint64_t cur_start         # ticks when the running callback began: also
                               # the watchdog's sequence number
    uint64_t longest           # ticks of the longest callback so far
    uint64_t poll_start        # ticks when a blocking poll began, 0 outside one
    uint64_t idle              # ticks spent in blocking epoll_wait
    double run_start           # monotonic time the loop started running, 0 if not
    double run_total           # seconds of the runs that ended
    uint64_t lag[LAG_BUCKETS]


cdef struct TimerEntry:
    # 16 bytes: the insertion sequence that breaks ties (FIFO) lives in the
    # handle and is only read when two deadlines are equal.
    double when
    PyObject *handle      # owned reference to a TimerHandle


include "_handles.pxd"


cdef class StreamCore


cdef class Loop:
    cdef int _epfd
    cdef int _waker_fd
    cdef int _sig_rfd
    cdef int _sig_wfd
    cdef readonly bint _closed
    cdef bint _running
    cdef bint _stopping
    cdef bint _polling
    cdef bint _stale_logged
    cdef bint _rebuild_needed
    cdef bint _debug_enabled
    cdef double _slow_callback_duration
    # Debug mode: the asyncio handle running now (asyncio's _current_handle).
    cdef public object _current_handle
    # Live Python transports (datagram, non-TCP/Unix stream): while any is,
    # add/remove_reader/writer ask the facade whether the fd is theirs.
    cdef public Py_ssize_t _py_owned_fds
    cdef uint64_t _fork_epoch
    cdef uint64_t _iteration
    cdef double _last_poll
    # Virtual time (ioloop.testing): added to CLOCK_MONOTONIC wherever the
    # loop reads its clock (time(), timers); 0.0 unless advanced.
    cdef double _clock_offset
    # Autojump: a poll that would sleep until the next timer waits at most
    # this many ms for I/O, then moves the clock to that timer; -1: off.
    cdef int _autojump_ms
    cdef double _autojump_threshold
    cdef uint64_t _batch
    cdef uint32_t _next_gen

    # fd table
    cdef FdEntry *_fds
    cdef int _nfds

    # epoll event buffer (events not yet dispatched stay for the next pass)
    cdef epoll_event *_events
    cdef int _maxevents
    cdef int _ev_pos
    cdef int _ev_count

    # timer heap
    cdef TimerEntry *_heap
    cdef Py_ssize_t _heap_len
    cdef Py_ssize_t _heap_cap
    cdef Py_ssize_t _heap_cancelled
    cdef uint64_t _timer_seq

    # due timers collected for this iteration
    cdef PyObject **_due
    cdef Py_ssize_t _due_len
    cdef Py_ssize_t _due_pos
    cdef Py_ssize_t _due_cap

    # ready queue: ring buffer of items holding owned references
    cdef ReadyItem *_rq
    cdef Py_ssize_t _rq_head
    cdef Py_ssize_t _rq_len
    cdef Py_ssize_t _rq_cap

    # Observability: counters, what runs now (borrowed, NULL between
    # callbacks), the longest one's description, run_once()'s poll cap.
    cdef LoopStats _st
    cdef PyObject *_cur_report
    cdef object _longest_repr
    cdef int _poll_cap_ms
    cdef uint64_t _wd_gen            # bumped to stop a waiting watchdog

    cdef object __weakref__
    # An object field gives the type GC support; _core.pyx extends its
    # tp_traverse/tp_clear to the references held in C memory.
    cdef object _gc_anchor
    # The empty context shared by callbacks scheduled from an empty one.
    cdef object _shared_ctx
    # Stream transports whose writes were queued in this iteration (owned
    # references), flushed at its end (_flush_writes) so that several
    # writes go out in one syscall; the spare buffer takes the writes made
    # while a flush runs.
    cdef PyObject **_wq
    cdef Py_ssize_t _wq_len
    cdef Py_ssize_t _wq_cap
    cdef PyObject **_wq_spare
    cdef Py_ssize_t _wq_spare_cap

    cdef int _check_fork(self) except -1
    cdef int _check_open(self) except -1
    cdef int _wake(self) noexcept
    cdef int _grow_ready(self) except -1
    cdef int _push_handle(self, Handle handle) except -1
    cdef int _push_parts(self, object callback, object args, object kwargs,
                         object context) except -1
    cdef int _ensure_fd_slot(self, int fd) except -1
    cdef int _clear_entry(self, int fd) noexcept
    cdef int _epoll_ctl(self, int op, int fd, uint32_t events, uint32_t gen) noexcept
    cdef int _register(self, int fd, uint32_t events, int kind, object obj,
                       object reader, object writer) except -1
    cdef int _heap_push(self, TimerHandle h) except -1
    cdef object _add_callback(self, object callback, tuple args, object kwargs)
    cdef Handle _call_soon(self, object callback, tuple args, object context)
    cdef TimerHandle _schedule(self, double when, object callback, tuple args,
                               object kwargs, object context, int aio)
    cdef int _timer_cancelled(self) except -1
    cdef int _compact_heap(self) noexcept
    cdef TimerEntry _heap_pop(self) noexcept
    cdef void _sift_down(self, Py_ssize_t i) noexcept
    cdef int _collect_due(self) except -1
    cdef object _empty_context(self)
    cdef int _debug_new(self, object h, int frames) except -1
    cdef int _debug_check_thread(self) except -1
    cdef int _run_callback(self, object callback, object args, object kwargs,
                           object context, object report) except -1
    cdef int _run_callback_debug(self, object callback, object args, object kwargs,
                                 object context, object report) except -1
    cdef int _run_once(self) except -1
    cdef int _poll_before_stop(self) except -1
    cdef int _poll(self) except -1
    cdef int _dispatch(self) except -1
    cdef int _dispatch_one(self, int fd, uint32_t gen, uint32_t events) except -1
    cdef int _fd_matches(self, int fd) noexcept
    cdef int _refuse_own_fd(self, int fd) except -1
    cdef int _drop_stale(self, int fd) except -1
    cdef int _rebuild_epoll(self) except -1
    cdef int _drain_fd(self, int fd) noexcept
    cdef int _read_signals(self, int fd) except -1
    cdef int _free_all(self) noexcept
    cdef int _open_wakers(self) except -1
    cdef int _transport_ctl(self, int fd, object tr, uint32_t new) except -1
    cdef int _queue_stream(self, object tr) except -1
    cdef int _grow_wq(self) except -1
    cdef int _flush_writes(self) except -1
    cdef int _record_longest(self, object callback, uint64_t dt) noexcept
    cdef int _account_end(self) noexcept


cdef class StreamCore:
    cdef object _face           # the StreamTransport the world sees
    cdef Loop _loop_c
    cdef readonly int _sock_fd
    cdef readonly object _protocol
    cdef readonly object _context
    cdef object _data_received
    cdef object _get_buffer
    cdef object _buffer_updated
    cdef public object _empty_waiter
    # Bytes still to send: the first chunk, then the others (a list only
    # used when more than one is waiting).
    cdef object _wfirst
    cdef list _wbuf
    cdef Py_ssize_t _wpos       # bytes of _wfirst already sent
    cdef Py_ssize_t _wsize      # total bytes buffered
    cdef public Py_ssize_t _high_water
    cdef public Py_ssize_t _low_water
    cdef uint32_t _mask         # events registered with the loop
    cdef public int _conn_lost
    cdef bint _buffered
    cdef bint _detached         # connection_lost ran: the fd is gone
    cdef public bint _closing
    cdef readonly bint _paused
    cdef public bint _eof
    cdef public bint _protocol_paused
    # In the loop's write queue: the buffer is sent at the end of the
    # iteration.
    cdef bint _queued
    # Inside this transport's own read callbacks: what they write is sent
    # when they return, without going through the queue.
    cdef bint _in_read
    cdef object __weakref__

    cdef int _set_mask(self, uint32_t mask) except -1
    cdef int _on_events(self, uint32_t events) except -1
    cdef int _read_ready(self) except -1
    cdef int _read_ready_buffered(self) except -1
    cdef int _write_ready(self) except -1
    cdef int _exec_write(self) except -1
    cdef Py_ssize_t _send_buffered(self) except -2
    cdef int _consume(self, Py_ssize_t n) except -1
    cdef int _send_failed(self, int err) except -1
    cdef int _kernel_full(self) except -1
    cdef int _write_done(self) except -1

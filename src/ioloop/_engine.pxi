# Included by _core.pyx: the Loop, one iteration of it and everything it
# owns in C memory.
#
# Owns, each in a section of the class (Cython allows no `include` inside a
# class body, so the methods stay in this one file): the ready queue (a
# power-of-two ring of ReadyItem), the timer heap (TimerEntry, ordered by
# (when, seq)) and the due list, the fd table (FdEntry per fd, with a
# generation that makes stale epoll events harmless), the epoll set, the
# eventfd waker and the signal pipe, the stream-write queue, the counters,
# and _run_once: poll, dispatch, collect due timers, run the ready snapshot,
# run the collected timers, flush writes.
# Invariants: this is the only place where callbacks, handlers and timers
# are called; every C array here holding references is visited by
# _gc.pxi's traverse and emptied by _free_all; the calls into the facade
# are declared, with their contracts, in _common.FacadeHooks; the engine
# defines defaults for _process_signals, _check_thread and
# _ensure_fd_no_transport and calls the other three only on the facade.

cdef inline void _release_item(ReadyItem *item) noexcept:
    Py_XDECREF(item.handle)
    Py_XDECREF(item.callback)
    Py_XDECREF(item.args)
    Py_XDECREF(item.kwargs)
    Py_XDECREF(item.context)


cdef inline bint _timer_less(TimerEntry *a, TimerEntry *b) noexcept:
    if a.when != b.when:
        return a.when < b.when
    return (<TimerHandle>a.handle).st.seq < (<TimerHandle>b.handle).st.seq


cdef class Loop:
    """The engine. ``ioloop.IOLoop`` adds the public facade on top."""

    # The hot paths of this engine's stream transports (_stream.pxi).
    _stream_core = StreamCore

    def __cinit__(self, *args, **kwargs):
        self._epfd = -1
        self._waker_fd = -1
        self._sig_rfd = -1
        self._sig_wfd = -1
        self._slow_callback_duration = 0.1
        self._autojump_ms = -1
        self._autojump_threshold = -1.0
        self._fork_epoch = _fork_epoch
        self._next_gen = 1
        self._poll_cap_ms = -1
        self._maxevents = MIN_EVENTS
        self._events = <epoll_event *>PyMem_Malloc(sizeof(epoll_event) * self._maxevents)
        self._rq_cap = 64
        self._rq = <ReadyItem *>PyMem_Malloc(sizeof(ReadyItem) * self._rq_cap)
        self._heap_cap = 64
        self._heap = <TimerEntry *>PyMem_Malloc(sizeof(TimerEntry) * self._heap_cap)
        self._due_cap = 16
        self._due = <PyObject **>PyMem_Malloc(sizeof(PyObject *) * self._due_cap)
        self._wq_cap = self._wq_spare_cap = 16
        self._wq = <PyObject **>PyMem_Malloc(sizeof(PyObject *) * self._wq_cap)
        self._wq_spare = <PyObject **>PyMem_Malloc(sizeof(PyObject *) * self._wq_spare_cap)
        if not (self._events and self._rq and self._heap and self._due and self._wq
                and self._wq_spare):
            raise MemoryError()
        self._epfd = epoll_create1(EPOLL_CLOEXEC)
        if self._epfd < 0:
            PyErr_SetFromErrno(OSError)
        self._open_wakers()

    def __dealloc__(self):
        self._free_all()

    # -- small helpers -----------------------------------------------------

    cdef int _check_fork(self) except -1:
        if self._fork_epoch != _fork_epoch:
            raise RuntimeError(
                "this IOLoop was created in the parent process; call "
                "reinit_after_fork() before using it after fork()")
        return 0

    cdef int _check_open(self) except -1:
        if self._closed:
            raise RuntimeError("IOLoop is closed")
        if self._fork_epoch != _fork_epoch:
            self._check_fork()
        return 0

    cdef int _wake(self) noexcept:
        # Only called while the loop sleeps in epoll_wait (coalesced: the
        # flag is cleared so later posts do not write again).
        cdef uint64_t one = 1
        self._polling = False
        if self._waker_fd >= 0:
            write(self._waker_fd, &one, sizeof(one))
        return 0

    cdef int _drain_fd(self, int fd) noexcept:
        cdef char buf[256]
        while read(fd, buf, sizeof(buf)) > 0:
            pass
        return 0

    cdef int _read_signals(self, int fd) except -1:
        # The C signal handler wrote one byte per signal number here
        # (signal.set_wakeup_fd); run Python-level handlers, then give the
        # facade the numbers for add_signal_handler callbacks.
        cdef unsigned char buf[256]
        cdef ssize_t n
        cdef bytearray got = bytearray()
        while True:
            n = read(fd, buf, sizeof(buf))
            if n <= 0:
                break
            got += (<char *>buf)[:n]
        PyErr_CheckSignals()
        if got:
            self._process_signals(bytes(got))
        return 0

    def _process_signals(self, data):
        """Signal numbers (one byte each) read from the wakeup fd."""
        # A facade hook's default (_common.FacadeHooks).

    cdef int _grow_ready(self) except -1:
        cdef Py_ssize_t i, n = self._rq_len
        cdef Py_ssize_t newcap = self._rq_cap * 2
        cdef ReadyItem *newbuf = <ReadyItem *>PyMem_Malloc(sizeof(ReadyItem) * newcap)
        if newbuf == NULL:
            raise MemoryError()
        for i in range(n):
            newbuf[i] = self._rq[(self._rq_head + i) & (self._rq_cap - 1)]
        PyMem_Free(self._rq)
        self._rq = newbuf
        self._rq_cap = newcap
        self._rq_head = 0
        return 0

    # The two pushes run no Python code, so under the GIL each is atomic
    # with respect to other threads posting callbacks.

    cdef int _push_handle(self, Handle handle) except -1:
        cdef ReadyItem *item
        if self._rq_len == self._rq_cap:
            self._grow_ready()
        item = &self._rq[(self._rq_head + self._rq_len) & (self._rq_cap - 1)]
        Py_INCREF(handle)
        item.handle = <PyObject *>handle
        item.callback = item.args = item.kwargs = item.context = NULL
        self._rq_len += 1
        return 0

    cdef int _push_parts(self, object callback, object args, object kwargs,
                         object context) except -1:
        cdef ReadyItem *item
        if self._rq_len == self._rq_cap:
            self._grow_ready()
        item = &self._rq[(self._rq_head + self._rq_len) & (self._rq_cap - 1)]
        Py_INCREF(callback)
        Py_INCREF(args)
        item.handle = NULL
        item.callback = <PyObject *>callback
        item.args = <PyObject *>args
        if context is None:
            item.context = NULL
        else:
            Py_INCREF(context)
            item.context = <PyObject *>context
        if kwargs is None:
            item.kwargs = NULL
        else:
            Py_INCREF(kwargs)
            item.kwargs = <PyObject *>kwargs
        self._rq_len += 1
        return 0

    # -- clock and debug ---------------------------------------------------

    def time(self):
        """Returns the loop's current time, in seconds (a float).

        The clock is ``CLOCK_MONOTONIC``, the scale of ``time.monotonic()``: it
        never goes backwards and ignores changes to the system clock, but its
        zero is arbitrary. ``call_at`` and ``add_timeout`` take deadlines on
        this scale.
        """
        return _monotonic() + self._clock_offset

    # Virtual time, for ioloop.testing (see VirtualClockIOLoop there).

    def _advance_clock(self, seconds):
        """Moves the loop's clock forward by ``seconds`` (virtual time)."""
        self._clock_offset += _common.clock_seconds(seconds, "seconds")
        if self._polling:
            self._wake()

    def _set_autojump_threshold(self, threshold):
        """None: autojump off; else a poll that would sleep until the next
        timer waits at most ``threshold`` seconds for I/O, then moves the
        clock to that timer."""
        cdef double t
        if threshold is None:
            self._autojump_ms = -1
            self._autojump_threshold = -1.0
        else:
            t = _common.clock_seconds(threshold, "autojump_threshold")
            # epoll's rounding: up to whole milliseconds.
            self._autojump_ms = MAX_POLL_MS if t >= MAX_POLL_SECONDS else <int>ceil(t * 1000.0)
            self._autojump_threshold = t
        if self._polling:
            self._wake()

    def _get_autojump_threshold(self):
        """The autojump threshold in seconds, or None when autojump is off."""
        return None if self._autojump_ms < 0 else self._autojump_threshold

    @property
    def slow_callback_duration(self):
        """Seconds a callback may run before debug mode warns that it was slow
        (asyncio's attribute; 0.1 by default). A finite number >= 0: anything else
        raises ``TypeError`` or ``ValueError``."""
        return self._slow_callback_duration

    @slow_callback_duration.setter
    def slow_callback_duration(self, value):
        self._slow_callback_duration = _common.clock_seconds(value, "slow_callback_duration")

    def get_debug(self):
        """Returns ``True`` if debug mode is on (see ``set_debug``)."""
        return self._debug_enabled

    def set_debug(self, enabled):
        """Turns asyncio's debug mode on or off: the engine's half
        (``ioloop.IOLoop.set_debug`` documents the whole)."""
        self._debug_enabled = bool(enabled)

    def fileno(self):
        """Returns the fd of the loop's epoll set (-1 once the loop is closed).

        To drive the loop from another main loop, wait for this fd to be
        readable (it is when I/O the loop watches is ready, or when another
        thread posted a callback between two ``run_once()`` calls), or for
        ``poll_timeout()`` seconds, then call ``run_once()``. Do not close it,
        read it or change its registrations.
        """
        return self._epfd

    def is_running(self):
        """Returns ``True`` while the loop runs (in ``start()``, ``run_forever()``,
        ``run_until_complete()`` or ``run_sync()``)."""
        return self._running

    def is_closed(self):
        """Returns ``True`` once ``close()`` has been called."""
        return self._closed

    # Debug mode's work, kept out of the scheduling methods (called through
    # the vtable: never inlined, so they cost those methods nothing but the
    # test of _debug_enabled).

    cdef int _debug_new(self, object h, int frames) except -1:
        # Where the handle was made: the first Python frame below us is the
        # caller of call_soon() & co (this engine's methods have none).
        _common.debug_new(h, None, frames)
        if isinstance(h, Handle):
            (<Handle>h)._flags |= HF_DEBUG
        else:
            (<TimerHandle>h).st.debug = 1
        return 0

    cdef int _debug_check_thread(self) except -1:
        self._check_thread()
        return 0

    # -- callbacks ---------------------------------------------------------

    # add_callback(callback, *args, **kwargs) is installed on the type below
    # as a METH_FASTCALL method (_add_callback_fastcall): a def with
    # **kwargs builds a dict on every call, even an empty one.
    cdef object _add_callback(self, object callback, tuple args, object kwargs):
        cdef object context
        _check_callable(callback, "callback")
        if self._closed:
            return None
        if self._fork_epoch != _fork_epoch:
            self._check_fork()
        context = _capture_context()
        # The loop may have been closed while the context was copied (an
        # allocation can run arbitrary code via the GC): check again.
        if self._closed:
            return None
        self._push_parts(callback, args, kwargs, context)
        if self._polling:
            self._wake()
        return None

    cdef Handle _call_soon(self, object callback, tuple args, object context):
        cdef Handle h
        _check_callable(callback, "callback")
        self._check_open()
        h = _new_handle(callback, args, context)
        if self._debug_enabled:
            self._debug_new(h, DEBUG_FRAMES)
        # Closed while the handle was built (the GC may run any code)?
        self._check_open()
        self._push_handle(h)
        if self._polling:
            self._wake()
        return h

    def call_soon(self, callback, *args, context=None):
        """Schedules ``callback(*args)`` for the next iteration.

        The asyncio form of ``add_callback``, sharing its queue: callbacks run
        in the order they were scheduled. Returns a ``Handle``, whose
        ``cancel()`` keeps the callback from running. ``context`` is the
        ``contextvars.Context`` to run it in (default: a copy of the current
        one). Call it from the loop's thread; from another thread, use
        ``call_soon_threadsafe``.

        Raises ``TypeError`` if ``callback`` is not callable and
        ``RuntimeError`` if the loop is closed.
        """
        if self._debug_enabled:
            self._debug_check_thread()
        return self._call_soon(callback, args, context)

    def call_soon_threadsafe(self, callback, *args, context=None):
        """Like ``call_soon``, but safe to call from any thread.

        It wakes the loop up if it is waiting for I/O. Returns a ``Handle``.
        Raises ``TypeError`` if ``callback`` is not callable and
        ``RuntimeError`` if the loop is closed.
        """
        # Every post is thread-safe here: under the GIL _push_handle and the
        # wake-up check run no Python code.
        return self._call_soon(callback, args, context)

    # -- timers ------------------------------------------------------------

    cdef int _heap_push(self, TimerHandle h) except -1:
        cdef Py_ssize_t i, parent
        cdef TimerEntry e
        cdef TimerEntry *newheap
        if self._heap_len == self._heap_cap:
            newheap = <TimerEntry *>PyMem_Realloc(
                self._heap, sizeof(TimerEntry) * self._heap_cap * 2)
            if newheap == NULL:
                raise MemoryError()
            self._heap = newheap
            self._heap_cap *= 2
        e.when = h._when
        e.handle = <PyObject *>h
        Py_INCREF(h)
        h.st.in_heap = 1
        i = self._heap_len
        self._heap_len += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not _timer_less(&e, &self._heap[parent]):
                break
            self._heap[i] = self._heap[parent]
            i = parent
        self._heap[i] = e
        return 0

    cdef TimerEntry _heap_pop(self) noexcept:
        # Caller checks _heap_len > 0; ownership of .handle moves to caller.
        cdef TimerEntry top = self._heap[0]
        cdef TimerEntry last
        cdef Py_ssize_t i = 0, child, n
        self._heap_len -= 1
        n = self._heap_len
        if n > 0:
            last = self._heap[n]
            while True:
                child = 2 * i + 1
                if child >= n:
                    break
                if child + 1 < n and _timer_less(&self._heap[child + 1], &self._heap[child]):
                    child += 1
                if not _timer_less(&self._heap[child], &last):
                    break
                self._heap[i] = self._heap[child]
                i = child
            self._heap[i] = last
        return top

    cdef TimerHandle _schedule(self, double when, object callback, tuple args,
                               object kwargs, object context, int aio):
        # aio: 0 for add_timeout, else the timer comes from asyncio's API
        # (call_later/call_at; it decides where an exception is reported) and
        # aio is how many frames debug mode records (as asyncio).
        cdef TimerHandle h
        _check_callable(callback, "callback")
        self._check_open()
        h = TimerHandle.__new__(TimerHandle)
        h.callback = callback
        h.args = args
        h.kwargs = kwargs if kwargs else None
        if context is None:
            h.context = _capture_context()
        else:
            if not PyContext_CheckExact(context):
                _common.check_context(context)
            h.context = context
        h._loop = <PyObject *>self
        h._when = when
        h.st = ioloop_timer_bits_new(self._timer_seq, aio)
        self._timer_seq += 1
        if self._debug_enabled and aio:
            self._debug_new(h, aio)
        self._check_open()
        self._heap_push(h)
        if self._polling:
            # A timer earlier than the current sleep must cut it short.
            self._wake()
        return h

    def call_at(self, when, callback, *args, **kwargs):
        """Calls ``callback(*args, **kwargs)`` at time ``when``.

        ``when`` is an absolute time in seconds on the scale of ``time()``. The
        callback never runs early; timers due at the same time run in the order
        they were scheduled. As in asyncio, a keyword argument ``context`` is
        the ``contextvars.Context`` to run the callback in (default: a copy of
        the current one); the other keyword arguments go to the callback.

        Returns a ``TimerHandle``: cancel the timer with ``remove_timeout`` or
        its ``cancel()``. Call it from the loop's thread; from another thread,
        hand the call over with ``add_callback``.

        Raises ``TypeError`` if ``when`` is not a real number or ``callback`` is
        not callable, ``ValueError`` if ``when`` is NaN and ``RuntimeError`` if
        the loop is closed.
        """
        context = kwargs.pop("context", None) if kwargs else None
        if self._debug_enabled:
            self._debug_check_thread()
        return self._schedule(_to_seconds(when, "when"), callback, args, kwargs, context,
                              DEBUG_FRAMES)

    def call_later(self, delay, callback, *args, **kwargs):
        """Calls ``callback(*args, **kwargs)`` after ``delay`` seconds.

        ``delay`` is in seconds, an int or a float (``PeriodicCallback`` is the
        one that counts in milliseconds). The callback never runs early; with a
        ``delay`` of zero or less it is due at once. Keyword arguments are
        handled as by ``call_at``: ``context`` is asyncio's, the others go to
        the callback.

        Returns a ``TimerHandle``: cancel the timer with ``remove_timeout`` or
        its ``cancel()``. Call it from the loop's thread; from another thread,
        hand the call over with ``add_callback``.

        Raises ``TypeError`` if ``delay`` is not a real number or ``callback``
        is not callable, ``ValueError`` if ``delay`` is NaN and ``RuntimeError``
        if the loop is closed.
        """
        context = kwargs.pop("context", None) if kwargs else None
        if self._debug_enabled:
            self._debug_check_thread()
        return self._schedule(_monotonic() + self._clock_offset + _to_seconds(delay, "delay"),
                              callback, args, kwargs, context, DEBUG_FRAMES_CALL_LATER)

    def add_timeout(self, deadline, callback, *args, **kwargs):
        """Calls ``callback(*args, **kwargs)`` at ``deadline``.

        ``deadline`` is either a number, an absolute time in seconds on the
        scale of ``time()`` (``loop.time() + 5`` is five seconds from now), or
        a ``datetime.timedelta``, relative to now. The callback never runs
        early. Unlike ``call_at`` and ``call_later``, every keyword argument,
        ``context`` included, goes to the callback.

        Returns a ``TimerHandle``: cancel the timer with ``remove_timeout`` or
        its ``cancel()``. Call it from the loop's thread; from another thread,
        hand the call over with ``add_callback``.

        Raises ``TypeError`` if ``deadline`` is neither a real number nor a
        ``timedelta`` or ``callback`` is not callable, ``ValueError`` if
        ``deadline`` is NaN and ``RuntimeError`` if the loop is closed.
        """
        return self._schedule(_common.deadline_to_when(deadline, _monotonic() + self._clock_offset),
                              callback, args, kwargs, None, 0)

    def remove_timeout(self, timeout):
        """Cancels a timer.

        ``timeout`` is a ``TimerHandle`` returned by ``add_timeout``,
        ``call_later`` or ``call_at``. Safe to call after the timer has run or
        been cancelled; any other object, a timer of another loop included, is
        ignored. Call it from the loop's thread.
        """
        if isinstance(timeout, TimerHandle) and (<TimerHandle>timeout)._loop == <PyObject *>self:
            timeout.cancel()

    cdef int _timer_cancelled(self) except -1:
        self._st.timers_cancelled += 1
        self._heap_cancelled += 1
        if (self._heap_cancelled > COMPACT_MIN_CANCELLED
                and self._heap_cancelled * 2 > self._heap_len):
            self._compact_heap()
        return 0

    def _timer_count(self):
        """Entries physically in the heap (live plus cancelled garbage)."""
        return self._heap_len

    cdef int _compact_heap(self) noexcept:
        cdef Py_ssize_t i, j = 0, k = 0, n = self._heap_len
        cdef TimerEntry e
        cdef TimerEntry *heap = self._heap
        cdef PyObject **dead = <PyObject **>PyMem_Malloc(sizeof(PyObject *) * (n + 1))
        if dead == NULL:
            return 0
        for i in range(n):
            e = heap[i]
            if (<TimerHandle>e.handle).st.cancelled:
                (<TimerHandle>e.handle).st.in_heap = 0
                dead[k] = e.handle
                k += 1
            else:
                heap[j] = e
                j += 1
        self._heap_len = j
        self._heap_cancelled = 0
        # Heapify (Floyd): sift every internal node down.
        i = j // 2 - 1
        while i >= 0:
            self._sift_down(i)
            i -= 1
        # Decref only now that the heap is consistent: a __del__ may
        # schedule new timers.
        for i in range(k):
            Py_DECREF(<object>dead[i])
        PyMem_Free(dead)
        return 0

    cdef void _sift_down(self, Py_ssize_t i) noexcept:
        cdef Py_ssize_t child, n = self._heap_len
        cdef TimerEntry item = self._heap[i]
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and _timer_less(&self._heap[child + 1], &self._heap[child]):
                child += 1
            if not _timer_less(&self._heap[child], &item):
                break
            self._heap[i] = self._heap[child]
            i = child
        self._heap[i] = item

    cdef int _collect_due(self) except -1:
        """Move due timers to the due list; nothing runs here."""
        cdef double now
        cdef TimerEntry e
        cdef PyObject **newdue
        if self._heap_len == 0:
            return 0
        now = _monotonic() + self._clock_offset
        while self._heap_len > 0 and self._heap[0].when <= now:
            e = self._heap_pop()
            (<TimerHandle>e.handle).st.in_heap = 0
            if (<TimerHandle>e.handle).st.cancelled:
                self._heap_cancelled -= 1
                Py_DECREF(<object>e.handle)
                continue
            if self._due_len == self._due_cap:
                newdue = <PyObject **>PyMem_Realloc(
                    self._due, sizeof(PyObject *) * self._due_cap * 2)
                if newdue == NULL:
                    self._heap_push(<TimerHandle>e.handle)
                    Py_DECREF(<object>e.handle)
                    raise MemoryError()
                self._due = newdue
                self._due_cap *= 2
            self._due[self._due_len] = e.handle  # reference moves here
            self._due_len += 1
        return 0

    # -- running callbacks -------------------------------------------------

    cdef inline object _empty_context(self):
        if self._shared_ctx is None:
            self._shared_ctx = PyContext_New()
        return self._shared_ctx

    # ``report`` says which API scheduled the callback, for the error report
    # and the slow-callback warning: a Handle for asyncio's (call_soon,
    # add_reader...), a TimerHandle, whose _asyncio_api tells call_later/
    # call_at from add_timeout, the callback itself for the rest of the
    # classic API (add_callback, add_handler). It costs nothing: the engine
    # passes the object it holds anyway, and only a report looks at it.
    cdef int _run_callback(self, object callback, object args, object kwargs,
                           object context, object report) except -1:
        cdef object result
        cdef bint shared
        _cb_enter(self, report)
        try:
            if self._debug_enabled:
                return self._run_callback_debug(callback, args, kwargs, context, report)
            shared = context is None
            if shared:
                context = self._empty_context()
            PyContext_Enter(context)
            try:
                if kwargs is None:
                    result = callback(*args)
                else:
                    result = callback(*args, **kwargs)
                if result is not None:
                    # Still in the callback's context: a task made from a
                    # returned awaitable inherits it (as on Tornado 6).
                    self._handle_callback_result(result)
            except BaseException as exc:
                PyContext_Exit(context)
                if shared and len(context):
                    self._shared_ctx = None
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                self._report_exception(report, callback, args)
                return 0
            PyContext_Exit(context)
            if shared and len(context):
                # The callback set a variable: the next one gets a clean context.
                self._shared_ctx = None
            return 0
        finally:
            _cb_exit(self, callback)

    cdef int _run_callback_debug(self, object callback, object args, object kwargs,
                                 object context, object report) except -1:
        # Debug mode: the same, timed, with the running asyncio handle known
        # to the exception handler (asyncio's "handle_traceback").
        cdef double t0
        cdef object result
        cdef bint shared = context is None
        cdef bint failed = False
        if shared:
            context = self._empty_context()
        if isinstance(report, Handle) or (isinstance(report, TimerHandle)
                                          and (<TimerHandle>report).st.aio):
            self._current_handle = report
        t0 = _monotonic()
        PyContext_Enter(context)
        try:
            try:
                if kwargs is None:
                    result = callback(*args)
                else:
                    result = callback(*args, **kwargs)
                if result is not None:
                    self._handle_callback_result(result)
            except BaseException as exc:
                PyContext_Exit(context)
                failed = True
                if shared and len(context):
                    self._shared_ctx = None
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                self._report_exception(report, callback, args)
            if not failed:
                PyContext_Exit(context)
                if shared and len(context):
                    self._shared_ctx = None
            self._check_slow(report, callback, args, t0)
        finally:
            self._current_handle = None
        return 0

    # -- the loop ----------------------------------------------------------

    def stop(self):
        """Stops the loop after the current iteration.

        ``start()`` (or ``run_forever()``) returns once the callbacks, handlers
        and timers of this iteration have run; what is scheduled for later
        stays scheduled, and runs if the loop is started again. Called while
        the loop is not running, it makes the next ``start()`` return after one
        iteration. To stop the loop from another thread, use
        ``loop.add_callback(loop.stop)``.
        """
        self._stopping = True
        if self._polling:
            self._wake()

    def _run(self):
        """Run iterations until stop(). The facade does the bookkeeping."""
        self._check_open()
        if self._running:
            raise RuntimeError("This event loop is already running")
        self._running = True
        self._st.run_start = _monotonic()
        try:
            if self._wq_len:
                # Written to while the loop was not running.
                self._flush_writes()
            while True:
                if not self._run_once() and self._stopping:
                    self._poll_before_stop()
                if self._stopping:
                    break
        finally:
            self._stopping = False
            self._running = False
            self._account_end()

    cdef int _poll_before_stop(self) except -1:
        # The last iteration skipped its poll (callbacks were ready and the
        # previous poll was a moment ago), so stop() would return without
        # looking at I/O that is already ready. asyncio polls in every
        # iteration, the last one included, and code that pumps the loop
        # with run_until_complete() relies on it: poll once (timeout 0, as
        # we are stopping) and run the ready I/O handlers. The callbacks
        # they schedule wait for the next run, as after any asyncio
        # iteration.
        self._poll()
        self._dispatch()
        if self._rebuild_needed:
            self._rebuild_epoll()
        if self._wq_len:
            self._flush_writes()
        return 0

    cdef int _run_once(self) except -1:
        """One iteration. Returns 0 if it skipped the poll, else 1."""
        cdef bint full
        cdef int polled = 1
        cdef Py_ssize_t ntodo, i
        cdef PyObject *item
        cdef ReadyItem ritem
        cdef object h, cb, args, ctx, kw
        cdef TimerHandle th
        cdef Handle hh
        cdef TimerEntry e
        cdef epoll_event *newbuf
        cdef double due_now = 0.0
        self._iteration += 1
        if self._ev_pos >= self._ev_count:
            full = False
            if ((self._rq_len > 0 or self._due_len > self._due_pos) and not self._stopping
                    and _monotonic() - self._last_poll < POLL_SKIP_SECONDS):
                # Callbacks are waiting and we polled a moment ago: skip the
                # syscall. I/O waits at most POLL_SKIP_SECONDS for its turn.
                polled = 0
            else:
                full = self._poll()
            self._dispatch()
            if full and self._maxevents < MAX_EVENTS:
                newbuf = <epoll_event *>PyMem_Realloc(
                    self._events, sizeof(epoll_event) * self._maxevents * 2)
                if newbuf != NULL:
                    self._events = newbuf
                    self._maxevents *= 2
        else:
            # Events left over by a KeyboardInterrupt in a handler.
            self._dispatch()
        if self._rebuild_needed:
            self._rebuild_epoll()

        self._collect_due()

        ntodo = self._rq_len
        for i in range(ntodo):
            if self._rq_len == 0:
                break
            ritem = self._rq[self._rq_head]
            self._rq_head = (self._rq_head + 1) & (self._rq_cap - 1)
            self._rq_len -= 1
            if ritem.handle != NULL:
                hh = <Handle>ritem.handle
                Py_DECREF(hh)  # the queue's reference; hh holds its own
                if not hh._cancelled:
                    self._st.callbacks += 1
                    try:
                        self._run_callback(hh.callback, hh.args, None, hh.context, hh)
                    finally:
                        _release_handle(<PyObject *>hh)
                hh = None
            else:
                # Take over the queue's references.
                cb = <object>ritem.callback
                Py_DECREF(cb)
                args = <object>ritem.args
                Py_DECREF(args)
                if ritem.context != NULL:
                    ctx = <object>ritem.context
                    Py_DECREF(ctx)
                else:
                    ctx = None
                if ritem.kwargs != NULL:
                    kw = <object>ritem.kwargs
                    Py_DECREF(kw)
                else:
                    kw = None
                self._st.callbacks += 1
                self._run_callback(cb, args, kw, ctx, cb)
                cb = args = ctx = kw = None

        while self._due_pos < self._due_len:
            item = self._due[self._due_pos]
            self._due[self._due_pos] = NULL
            self._due_pos += 1
            th = <TimerHandle>item
            Py_DECREF(th)
            if not th.st.cancelled:
                self._st.timers_run += 1
                if due_now == 0.0:
                    due_now = _monotonic() + self._clock_offset   # loop lag: how late the due timers start
                self._st.lag[ioloop_lag_bucket(due_now - th._when, LAG_BUCKETS)] += 1
                try:
                    self._run_callback(th.callback, th.args, th.kwargs, th.context, th)
                finally:
                    _release_timer(<PyObject *>th)
            th = None
        self._due_pos = 0
        self._due_len = 0
        if self._wq_len:
            self._flush_writes()
        return polled

    # -- queued stream writes ----------------------------------------------

    cdef int _queue_stream(self, object tr) except -1:
        if self._wq_len == self._wq_cap:
            if self._closed:
                return 0  # nothing is sent after close()
            self._grow_wq()
        Py_INCREF(tr)
        self._wq[self._wq_len] = <PyObject *>tr
        self._wq_len += 1
        return 0

    cdef int _grow_wq(self) except -1:
        cdef PyObject **buf
        cdef Py_ssize_t cap = self._wq_cap * 2 if self._wq_cap else 16
        buf = <PyObject **>PyMem_Realloc(self._wq, sizeof(PyObject *) * cap)
        if buf == NULL:
            raise MemoryError()
        self._wq = buf
        self._wq_cap = cap
        return 0

    def _queue_write(self, tr):
        self._queue_stream(tr)

    cdef int _flush_writes(self) except -1:
        """The end of an iteration: send what the queued transports
        buffered. Writes made meanwhile wait for the next flush.

        The queue owns a reference to each transport; the flush takes the
        array (writes made during it go to the spare one) and releases each
        reference as it reaches it."""
        cdef PyObject **q = self._wq
        cdef Py_ssize_t i = 0, n = self._wq_len, cap = self._wq_cap
        cdef PyObject *item
        cdef StreamCore core
        cdef object tr
        self._wq = self._wq_spare
        self._wq_cap = self._wq_spare_cap
        self._wq_len = 0
        self._wq_spare = NULL
        self._wq_spare_cap = 0
        try:
            while i < n:
                item = q[i]
                i += 1
                if type(<object>item) is StreamCore:
                    core = <StreamCore>item
                    Py_DECREF(<object>item)  # core holds its own reference
                    core._queued = False
                    core._exec_write()
                else:
                    tr = <object>item
                    Py_DECREF(tr)
                    tr._queued = False
                    tr._exec_write()
        except BaseException:
            # KeyboardInterrupt or SystemExit: the rest stays queued (its
            # references move to the queue), unless the loop was closed.
            while i < n:
                item = q[i]
                i += 1
                if self._wq_len == self._wq_cap and not self._closed:
                    try:
                        self._grow_wq()
                    except MemoryError:
                        pass
                if self._wq_len < self._wq_cap:
                    self._wq[self._wq_len] = item
                    self._wq_len += 1
                else:
                    tr = <object>item
                    Py_DECREF(tr)
                    try:
                        if type(tr) is StreamCore:
                            (<StreamCore>tr)._queued = False
                        else:
                            tr._queued = False
                    except Exception:
                        pass
            raise
        finally:
            if self._wq_spare == NULL and not self._closed:
                self._wq_spare = q
                self._wq_spare_cap = cap
            else:
                # The loop was closed meanwhile (_free_all took the buffers).
                PyMem_Free(q)
        return 0

    cdef int _poll(self) except -1:
        """epoll_wait into the event buffer; returns 1 if it came back full."""
        cdef int timeout, n, err
        cdef double delta
        cdef bint jump = False
        cdef TimerEntry e
        if not (self._rq_len > 0 or self._stopping or self._due_len > self._due_pos):
            # Drop cancelled timers at the head so they do not cut the
            # sleep short. A decref may run any code (a finalizer that
            # schedules a callback or cancels the next timer, or releases the
            # GIL to another thread that posts while we are not yet marked
            # as polling): the loop re-reads the head after each one, and
            # the ready queue is looked at only afterwards.
            while self._heap_len > 0 and (<TimerHandle>self._heap[0].handle).st.cancelled:
                e = self._heap_pop()
                (<TimerHandle>e.handle).st.in_heap = 0
                self._heap_cancelled -= 1
                Py_DECREF(<object>e.handle)
        # From here to epoll_wait no Python code runs, so nothing can post
        # work unseen: either it is in the queue now, or the poster sees
        # _polling and wakes us.
        if self._rq_len > 0 or self._stopping or self._due_len > self._due_pos:
            timeout = 0
        else:
            if self._heap_len > 0:
                delta = self._heap[0].when - (_monotonic() + self._clock_offset)
                if delta <= 0:
                    timeout = 0
                elif delta >= MAX_POLL_SECONDS:
                    timeout = MAX_POLL_MS
                else:
                    # Round up: rounding down wakes early and spins.
                    timeout = <int>ceil(delta * 1000.0)
            else:
                timeout = -1
        if self._poll_cap_ms >= 0 and (timeout < 0 or timeout > self._poll_cap_ms):
            timeout = self._poll_cap_ms   # run_once(timeout)
        if timeout != 0:
            self._polling = True
            if 0 <= self._autojump_ms < timeout and self._heap_len > 0:
                # Autojump: wait for I/O at most the threshold, then move
                # the clock to the next timer instead of sleeping until it.
                timeout = self._autojump_ms
                jump = True
            self._st.poll_start = ioloop_ticks()   # idle time starts
        with nogil:
            n = epoll_wait(self._epfd, self._events, self._maxevents, timeout)
            err = errno
        self._polling = False
        if jump and n == 0 and self._heap_len > 0:
            delta = self._heap[0].when - (_monotonic() + self._clock_offset)
            if delta > 0:
                self._clock_offset += delta
        if self._st.poll_start != 0:
            self._st.idle += ioloop_ticks() - self._st.poll_start
            self._st.poll_start = 0
        self._last_poll = _monotonic()
        self._batch += 1
        self._ev_pos = 0
        self._ev_count = 0
        if n < 0:
            if err != EINTR:
                raise OSError(err, _os.strerror(err))
            # A signal: let Python handlers run (Ctrl-C), then carry on;
            # the next poll sleeps for whatever time remains.
            PyErr_CheckSignals()
            n = 0
        self._ev_count = n
        return n == self._maxevents

    cdef int _dispatch(self) except -1:
        cdef epoll_event *ev
        cdef uint64_t data
        cdef uint32_t events
        while self._ev_pos < self._ev_count:
            ev = &self._events[self._ev_pos]
            self._ev_pos += 1
            data = ev.data.u64
            events = ev.events
            self._dispatch_one(<int>(data & 0xffffffffULL), <uint32_t>(data >> 32), events)
        return 0

    cdef int _dispatch_one(self, int fd, uint32_t gen, uint32_t events) except -1:
        cdef FdEntry *e
        cdef StreamCore tr
        cdef Handle h
        cdef object obj
        cdef object context
        cdef bint shared
        cdef double t0 = 0.0
        if gen == 0:
            if fd == self._waker_fd:
                self._drain_fd(fd)
            elif fd == self._sig_rfd:
                self._read_signals(fd)
            return 0
        if fd >= self._nfds:
            self._rebuild_needed = True
            return 0
        e = &self._fds[fd]
        if e.kind == KIND_FREE or e.gen != gen:
            # Removed or replaced earlier in this batch: drop silently.
            # Otherwise the kernel still holds a registration we gave up
            # (a dup of the fd keeps the file open): rebuild the epoll set.
            if e.changed_batch != self._batch:
                self._rebuild_needed = True
            return 0
        if e.last_iter + 1 == self._batch:
            e.streak += 1
        else:
            e.streak = 1
        e.last_iter = self._batch
        if e.streak % STALE_CHECK_EVERY == 0 and not self._fd_matches(fd):
            self._drop_stale(fd)
            return 0
        if e.kind == KIND_TRANSPORT:
            tr = <StreamCore>e.obj
            self._st.io_run += 1
            _cb_enter(self, tr)   # held by tr; its _face may go meanwhile
            try:
                tr._on_events(events)
            finally:
                _cb_exit(self, None)
            return 0
        if e.kind == KIND_CLASSIC:
            h = <Handle>e.reader
            obj = <object>e.obj
            context = h.context
            shared = context is None
            if shared:
                context = self._empty_context()
            if self._debug_enabled:
                t0 = _monotonic()
            # Keep the callback: a handler that removes itself releases it
            # from the handle, and an error report still names it.
            cb = h.callback
            self._st.io_run += 1
            _cb_enter(self, cb)
            try:
                PyContext_Enter(context)
                try:
                    result = cb(obj, events)
                    if result is not None:
                        self._handle_callback_result(result)
                except BrokenPipeError:
                    # The peer went away; the handler will see it on its next read.
                    PyContext_Exit(context)
                    if shared and len(context):
                        self._shared_ctx = None
                    return 0
                except BaseException as exc:
                    PyContext_Exit(context)
                    if shared and len(context):
                        self._shared_ctx = None
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    self._report_exception(cb, cb, None)
                    if (isinstance(exc, OSError) and (<object>exc).errno == EBADF
                            and fd < self._nfds and self._fds[fd].kind == KIND_CLASSIC
                            and self._fds[fd].gen == gen and not self._fd_matches(fd)):
                        # The handler found its fd closed: don't wait for the
                        # streak check to drop the stale registration.
                        self._drop_stale(fd)
                    return 0
                PyContext_Exit(context)
                if shared and len(context):
                    self._shared_ctx = None
            finally:
                _cb_exit(self, cb)
            if self._debug_enabled:
                self._check_slow(cb, cb, None, t0)
            return 0
        # asyncio reader/writer; ERR/HUP wake both (as selectors does).
        if events & (EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDHUP) and e.reader != NULL:
            h = <Handle>e.reader
            if not h._cancelled:
                self._st.io_run += 1
                self._run_callback(h.callback, h.args, None, h.context, h)
            # The reader may have removed or replaced the registration, and
            # the table may have moved: look it up again.
            if fd >= self._nfds:
                return 0
            e = &self._fds[fd]
            if e.kind != KIND_ASYNCIO or e.gen != gen:
                return 0
        if events & (EPOLLOUT | EPOLLERR | EPOLLHUP) and e.writer != NULL:
            h = <Handle>e.writer
            if not h._cancelled:
                self._st.io_run += 1
                self._run_callback(h.callback, h.args, None, h.context, h)
        return 0

    # -- observability: what the facade's stats(), blocking-loop watchdog,
    # introspection and run_once() read (see docs/observability.md) --------

    cdef int _record_longest(self, object callback, uint64_t dt) noexcept:
        # A new longest callback: describe it now, while it exists.
        self._st.longest = dt
        try:
            self._longest_repr = _common.describe_callback(_reported(self._cur_report), callback)
        except BaseException:
            self._longest_repr = None
        return 0

    cdef int _account_end(self) noexcept:
        # The loop stops running.
        if self._st.run_start != 0.0:
            self._st.run_total += _monotonic() - self._st.run_start
            self._st.run_start = 0.0
        self._st.poll_start = 0
        self._cur_report = NULL
        return 0

    def _stats_raw(self):
        """The counters, as a tuple (see IOLoop.stats); any thread."""
        cdef double total = self._st.run_total, idle
        cdef uint64_t idle_ticks = self._st.idle
        cdef int fd, nfds = 0
        if self._st.run_start != 0.0:
            # Running: count the current run (and poll) so far.
            total += _monotonic() - self._st.run_start
            if self._st.poll_start != 0:
                idle_ticks += ioloop_ticks() - self._st.poll_start
        idle = _ticks_to_seconds(idle_ticks)
        if idle > total:
            idle = total   # the clocks disagree by a hair
        for fd in range(self._nfds):
            if self._fds[fd].kind != KIND_FREE:
                nfds += 1
        return (self._iteration, self._st.callbacks, self._st.io_run, self._st.timers_run,
                self._heap_len - self._heap_cancelled, self._st.timers_cancelled,
                nfds, self._rq_len, total - idle, idle,
                _ticks_to_seconds(self._st.longest), self._longest_repr,
                tuple([self._st.lag[fd] for fd in range(LAG_BUCKETS)]))

    def _busy(self):
        """(sequence, report, callback, seconds) of the callback, handler or
        timer running now, or None; any thread."""
        cdef object report, callback
        if self._cur_report == NULL:
            return None
        report = _reported(self._cur_report)
        if isinstance(report, Handle):
            callback = (<Handle>report).callback
        elif isinstance(report, TimerHandle):
            callback = (<TimerHandle>report).callback
        else:
            callback = report
        return (self._st.cur_start, report, callback,
                _ticks_to_seconds(ioloop_ticks() - self._st.cur_start))

    def _watch(self, double threshold, double max_wait, warned, uint64_t gen):
        """For the watchdog thread: sleeps without the GIL, looking every
        ``threshold / 4`` (at most 50 ms) at what the loop runs, until one
        callback has run for ``threshold`` seconds (returns its sequence
        number, unless that is ``warned``), ``max_wait`` seconds passed or
        _watch_stop() was called (returns None)."""
        cdef uint64_t thr_ticks, start, seen = 0
        cdef double slept = 0.0, tick = threshold / 4
        cdef timespec ts
        cdef PyObject *cur
        if warned is not None:
            seen = warned
        if tick > 0.05:
            tick = 0.05
        elif tick < 0.001:
            tick = 0.001
        thr_ticks = <uint64_t>(threshold * _tick_rate_now())
        ts.tv_sec = <long>tick
        ts.tv_nsec = <long>((tick - <double>ts.tv_sec) * 1e9)
        with nogil:
            while slept < max_wait and ioloop_load_u64(&self._wd_gen) == gen:
                nanosleep(&ts, NULL)
                slept += tick
                cur = ioloop_load_ptr(&self._cur_report)
                start = ioloop_load_u64(&self._st.cur_start)
                if cur != NULL and start != seen and ioloop_ticks() - start >= thr_ticks:
                    with gil:
                        return start
        return None

    def _watch_stop(self):
        """Ends the waits of _watch() (any thread)."""
        self._wd_gen += 1
        return self._wd_gen

    def _fd_snapshot(self):
        """[(fd, events, kind, obj, reader, reader callback, writer, writer
        callback)] of the registered fds."""
        cdef int fd = 0
        cdef FdEntry *e
        out = []
        while fd < self._nfds:
            e = &self._fds[fd]
            if e.kind == KIND_CLASSIC:
                item = (fd, e.events, "handler", <object>e.obj,
                        None, (<Handle>e.reader).callback, None, None)
                out.append(item)
            elif e.kind == KIND_ASYNCIO:
                item = (fd, e.events, "asyncio", None,
                        <object>e.reader if e.reader != NULL else None,
                        (<Handle>e.reader).callback if e.reader != NULL else None,
                        <object>e.writer if e.writer != NULL else None,
                        (<Handle>e.writer).callback if e.writer != NULL else None)
                out.append(item)
            elif e.kind == KIND_TRANSPORT:
                item = (fd, e.events, "transport", (<StreamCore>e.obj)._face,
                        None, None, None, None)
                out.append(item)
            fd += 1
        return out

    def _timer_snapshot(self):
        """[(when, seq, TimerHandle, callback)] of the timers not cancelled, in order."""
        cdef Py_ssize_t i = 0
        cdef TimerHandle th
        out = []
        while i < self._heap_len:
            th = <TimerHandle>self._heap[i].handle
            if not th.st.cancelled:
                out.append((th._when, th.st.seq, th, th.callback))
            i += 1
        i = self._due_pos
        while i < self._due_len:
            if self._due[i] != NULL:
                th = <TimerHandle>self._due[i]
                if not th.st.cancelled:
                    out.append((th._when, th.st.seq, th, th.callback))
            i += 1
        th = None
        out.sort(key=_timer_key)
        return out

    def _next_timeout(self):
        """Seconds the loop could sleep in its next poll: 0.0 if work is
        ready, None if nothing but I/O can wake it."""
        cdef TimerEntry e
        cdef double delta
        if (self._rq_len > 0 or self._stopping or self._due_len > self._due_pos
                or self._ev_pos < self._ev_count):
            return 0.0
        while self._heap_len > 0 and (<TimerHandle>self._heap[0].handle).st.cancelled:
            e = self._heap_pop()
            (<TimerHandle>e.handle).st.in_heap = 0
            self._heap_cancelled -= 1
            Py_DECREF(<object>e.handle)
        if self._rq_len > 0 or self._due_len > self._due_pos:
            return 0.0   # a finalizer scheduled something
        if self._heap_len == 0:
            return None
        delta = self._heap[0].when - (_monotonic() + self._clock_offset)
        return delta if delta > 0.0 else 0.0

    def _run_one(self, timeout):
        """One iteration (IOLoop.run_once); its poll waits at most
        ``timeout`` seconds (a float >= 0, checked by the facade), or as
        long as the loop would if None."""
        cdef double t
        self._check_open()
        if self._running:
            raise RuntimeError("This event loop is already running")
        if timeout is None:
            self._poll_cap_ms = -1
        else:
            t = timeout
            self._poll_cap_ms = MAX_POLL_MS if t >= MAX_POLL_SECONDS else <int>ceil(t * 1000.0)
        self._running = True
        self._st.run_start = _monotonic()
        try:
            self._run_once()
        finally:
            self._poll_cap_ms = -1
            self._stopping = False
            self._running = False
            self._account_end()
            # Between iterations the loop "sleeps" in the embedding loop's
            # wait on fileno(): a post from another thread must wake it.
            self._polling = True

    # -- fd table ------------------------------------------------------------

    cdef int _ensure_fd_slot(self, int fd) except -1:
        cdef int newn
        cdef FdEntry *newtab
        if fd < self._nfds:
            return 0
        newn = max(fd + 1, self._nfds * 2, 64)
        newtab = <FdEntry *>PyMem_Realloc(self._fds, sizeof(FdEntry) * newn)
        if newtab == NULL:
            raise MemoryError()
        memset(&newtab[self._nfds], 0, sizeof(FdEntry) * (newn - self._nfds))
        self._fds = newtab
        self._nfds = newn
        return 0

    cdef int _clear_entry(self, int fd) noexcept:
        cdef FdEntry *e = &self._fds[fd]
        cdef PyObject *obj = e.obj
        cdef PyObject *reader = e.reader
        cdef PyObject *writer = e.writer
        e.kind = KIND_FREE
        e.obj = NULL
        e.reader = NULL
        e.writer = NULL
        e.events = 0
        e.streak = 0
        e.changed_batch = self._batch
        if reader != NULL:
            _release_handle(reader)
        if writer != NULL:
            _release_handle(writer)
        # Decref last: a __del__ may re-enter the loop.
        Py_XDECREF(obj)
        Py_XDECREF(reader)
        Py_XDECREF(writer)
        return 0

    cdef int _epoll_ctl(self, int op, int fd, uint32_t events, uint32_t gen) noexcept:
        cdef epoll_event ev
        ev.events = events
        ev.data.u64 = (<uint64_t>gen << 32) | <uint32_t>fd
        return epoll_ctl(self._epfd, op, fd, &ev)

    cdef int _fd_matches(self, int fd) noexcept:
        cdef struct_stat st
        if fstat(fd, &st) < 0:
            return 0
        return <uint64_t>st.st_dev == self._fds[fd].dev and <uint64_t>st.st_ino == self._fds[fd].ino

    cdef int _register(self, int fd, uint32_t events, int kind, object obj,
                       object reader, object writer) except -1:
        """Add a fresh registration for ``fd`` (the slot may hold a stale one)."""
        cdef FdEntry *e
        cdef uint32_t gen
        cdef int err
        cdef struct_stat st
        if fd == self._epfd or fd == self._waker_fd or fd == self._sig_rfd or fd == self._sig_wfd:
            self._refuse_own_fd(fd)
        self._ensure_fd_slot(fd)
        gen = self._next_gen
        self._next_gen += 1
        if self._next_gen == 0:
            self._next_gen = 1
        if self._epoll_ctl(EPOLL_CTL_ADD, fd, events, gen) < 0:
            err = errno
            if err == EEXIST and self._fds[fd].kind == KIND_FREE:
                # The kernel kept a registration we had given up on (a DEL
                # that failed): take it over.
                if self._epoll_ctl(EPOLL_CTL_MOD, fd, events, gen) < 0:
                    raise _common.fd_error(errno, fd)
            elif err == EEXIST:
                raise FileExistsError(EEXIST, f"fd {fd} is already registered with this IOLoop")
            else:
                raise _common.fd_error(err, fd)
        if fstat(fd, &st) < 0:
            st.st_dev = 0
            st.st_ino = 0
        if self._fds[fd].kind != KIND_FREE:
            # Our entry was stale: the fd had been closed (and its number
            # reused) without remove_handler. Events still tagged with the
            # old generation are dropped.
            self._clear_entry(fd)
        e = &self._fds[fd]
        e.gen = gen
        e.events = events
        e.kind = kind
        e.streak = 0
        e.changed_batch = self._batch
        e.dev = <uint64_t>st.st_dev
        e.ino = <uint64_t>st.st_ino
        if obj is not None:
            Py_INCREF(obj)
            e.obj = <PyObject *>obj
        if reader is not None:
            Py_INCREF(reader)
            e.reader = <PyObject *>reader
        if writer is not None:
            Py_INCREF(writer)
            e.writer = <PyObject *>writer
        return 0

    cdef int _refuse_own_fd(self, int fd) except -1:
        # Handing the loop's own fds to a handler would steal the loop's
        # wake-ups (and remove_handler would drop them for good).
        if fd == self._epfd:
            what = "its epoll fd"
        elif fd == self._waker_fd:
            what = "its wake-up eventfd"
        else:
            what = "its signal wake-up pipe"
        raise ValueError(f"fd {fd} belongs to the IOLoop ({what}); it cannot be watched")

    cdef int _drop_stale(self, int fd) except -1:
        if not self._stale_logged:
            self._stale_logged = True
            _logger.warning(
                "fd %d was closed without remove_handler() while a duplicate "
                "kept it open; dropping its handler and rebuilding the epoll set", fd)
        self._clear_entry(fd)
        self._rebuild_needed = True
        return 0

    cdef int _rebuild_epoll(self) except -1:
        """Replace the epoll set by a fresh one holding only live entries.

        The only way to get rid of a registration whose fd number is gone
        (closed while a dup keeps the file open): EPOLL_CTL_DEL needs the fd.
        """
        cdef int newfd, fd
        self._rebuild_needed = False
        if self._epfd < 0:
            return 0
        if not self._stale_logged:
            self._stale_logged = True
            _logger.warning("stale epoll registration (an fd closed without "
                            "remove_handler?); rebuilding the epoll set")
        newfd = epoll_create1(EPOLL_CLOEXEC)
        if newfd < 0:
            PyErr_SetFromErrno(OSError)
        # Keep the epoll fd number stable for fileno() users.
        if dup3(newfd, self._epfd, O_CLOEXEC) < 0:
            close(newfd)
            PyErr_SetFromErrno(OSError)
        close(newfd)
        self._epoll_ctl(EPOLL_CTL_ADD, self._waker_fd, EPOLLIN, 0)
        if self._sig_rfd >= 0:
            self._epoll_ctl(EPOLL_CTL_ADD, self._sig_rfd, EPOLLIN, 0)
        for fd in range(self._nfds):
            if self._fds[fd].kind == KIND_FREE:
                continue
            if (not self._fd_matches(fd) or self._epoll_ctl(
                    EPOLL_CTL_ADD, fd, self._fds[fd].events, self._fds[fd].gen) < 0):
                self._clear_entry(fd)
        # Buffered events belong to the old set.
        self._ev_pos = self._ev_count = 0
        return 0

    def add_handler(self, fd, handler, events):
        """Calls ``handler(fd, events)`` whenever ``fd`` is ready for ``events``.

        ``fd`` is an int file descriptor or an object with a ``fileno()``
        method, such as a socket; the handler gets it back exactly as passed.
        ``events`` is a mask of ``IOLoop.READ``, ``IOLoop.WRITE`` and the other
        ``IOLoop`` constants (Linux epoll bits); ``IOLoop.ERROR`` is always
        watched. The handler receives the mask of the events that occurred, on
        every iteration while they last (level-triggered, unless ``IOLoop.EDGE``
        is in the mask). An exception it raises goes to
        ``handle_callback_exception`` (a ``BrokenPipeError`` is ignored: the
        peer went away) and the loop carries on.

        One registration per fd: change its mask with ``update_handler``, and
        call ``remove_handler`` before closing the fd. Call it from the loop's
        thread.

        Raises ``TypeError`` if ``handler`` is not callable, ``events`` is not
        an int or ``fd`` is neither an int nor an object with ``fileno()``;
        ``ValueError`` if ``fd`` is negative, closed or one of the loop's own
        fds, or ``events`` is out of range; ``FileExistsError`` if ``fd`` is already registered with this
        loop; ``PermissionError`` if epoll cannot watch it (a regular file);
        ``RuntimeError`` if the loop is closed.
        """
        cdef int n
        cdef uint32_t mask
        _check_callable(handler, "handler")
        mask = _event_mask(events) | ERROR_MASK
        self._check_open()
        n = _fileno(fd)
        if n < 0:
            raise ValueError(f"fd {fd!r} is closed (fileno() returned -1)")
        h = _new_handle(handler, (), None)
        self._register(n, mask, KIND_CLASSIC, fd, h, None)

    def update_handler(self, fd, events):
        """Changes the events ``fd`` is watched for to ``events``.

        ``fd`` is the int or object given to ``add_handler``; ``IOLoop.ERROR``
        is always watched. Call it from the loop's thread.

        Raises ``ValueError`` if ``fd`` is not registered with ``add_handler``
        (or was closed without ``remove_handler``) or ``events`` is out of
        range, ``TypeError`` if ``events`` is not an int and ``RuntimeError`` if
        the loop is closed.
        """
        cdef int n, err
        cdef uint32_t mask = _event_mask(events) | ERROR_MASK
        self._check_open()
        n = self._lookup(fd)
        if n < 0 or n >= self._nfds or self._fds[n].kind != KIND_CLASSIC:
            raise ValueError(f"fd {fd!r} is not registered with add_handler()")
        if self._epoll_ctl(EPOLL_CTL_MOD, n, mask, self._fds[n].gen) < 0:
            err = errno
            if err == ENOENT or err == EBADF:
                self._clear_entry(n)
                raise ValueError(f"fd {fd!r} is not registered: it was closed "
                                 f"without remove_handler()")
            raise _common.fd_error(err, n)
        self._fds[n].events = mask

    def _lookup(self, fd):
        """fd number of a registered int or object, -1 if unknown/closed."""
        cdef int n
        cdef int i
        try:
            n = _fileno(fd)
        except (TypeError, ValueError, OSError):
            n = -1
        if n < 0 and not isinstance(fd, int):
            # A closed socket reports -1: find it by identity.
            for i in range(self._nfds):
                if self._fds[i].kind == KIND_CLASSIC and self._fds[i].obj == <PyObject *>fd:
                    return i
        return n

    def remove_handler(self, fd):
        """Stops watching ``fd``, the int or object given to ``add_handler``.

        It takes effect at once: the handler is not called again, not even for
        events already polled in this iteration, and ``fd`` may be closed right
        after. A socket closed before this call is still found. Does nothing if
        ``fd`` is not registered or the loop is closed. Call it from the loop's
        thread.
        """
        cdef int n
        if self._epfd < 0:
            return None
        n = self._lookup(fd)
        if n < 0 or n >= self._nfds or self._fds[n].kind != KIND_CLASSIC:
            return None
        self._check_fork()
        # Synchronous: the caller may close the fd right after we return.
        # EBADF/ENOENT mean the kernel already forgot it (or a dup keeps it;
        # then stale events trigger a rebuild).
        self._epoll_ctl(EPOLL_CTL_DEL, n, 0, 0)
        self._clear_entry(n)

    def _handler_objects(self):
        """The objects passed to add_handler, for close(all_fds=True)."""
        return [<object>self._fds[i].obj for i in range(self._nfds)
                if self._fds[i].kind == KIND_CLASSIC
                and (not isinstance(<object>self._fds[i].obj, int) or self._fd_matches(i))]

    # -- asyncio readers and writers -------------------------------------------

    def _add_rw(self, fd, callback, tuple args, bint writer):
        cdef int n, err
        cdef FdEntry *e
        cdef uint32_t mask
        cdef Handle h
        cdef PyObject *old
        n = _aio_fileno(fd)
        _check_callable(callback, "callback")
        self._check_open()
        if n < 0:
            raise ValueError(f"fd {fd!r} is closed (fileno() returned -1)")
        if n < self._nfds and self._fds[n].kind == KIND_TRANSPORT:
            raise RuntimeError(f"File descriptor {fd!r} is used by transport "
                               f"{<object>self._fds[n].obj!r}")
        h = _new_handle(callback, args, None)
        if self._debug_enabled:
            self._debug_new(h, DEBUG_FRAMES)
        if n < self._nfds and self._fds[n].kind == KIND_ASYNCIO:
            e = &self._fds[n]
            mask = e.events | (EPOLLOUT if writer else EPOLLIN)
            if self._epoll_ctl(EPOLL_CTL_MOD, n, mask, e.gen) < 0:
                err = errno
                if err == ENOENT:
                    # The fd was closed and its number reused since: the
                    # kernel dropped the old registration when it was closed.
                    self._register(n, EPOLLOUT if writer else EPOLLIN,
                                   KIND_ASYNCIO, None,
                                   None if writer else h, h if writer else None)
                    return None
                if err == EBADF:
                    self._clear_entry(n)
                raise _common.fd_error(err, n)
            e = &self._fds[n]
            e.events = mask
            old = e.writer if writer else e.reader
            Py_INCREF(h)
            if writer:
                e.writer = <PyObject *>h
            else:
                e.reader = <PyObject *>h
            if old != NULL:
                (<Handle>old).cancel()
                Py_DECREF(<object>old)
            return None
        self._register(n, EPOLLOUT if writer else EPOLLIN, KIND_ASYNCIO, None,
                       None if writer else h, h if writer else None)

    def _remove_rw(self, fd, bint writer):
        cdef int n
        cdef FdEntry *e
        cdef PyObject *old
        cdef uint32_t mask
        # As asyncio: a bad fd is an error even on a closed loop.
        n = _aio_fileno(fd)
        if self._epfd < 0:
            return False
        if n < self._nfds and n >= 0 and self._fds[n].kind == KIND_TRANSPORT:
            raise RuntimeError(f"File descriptor {fd!r} is used by transport "
                               f"{<object>self._fds[n].obj!r}")
        if n < 0 or n >= self._nfds or self._fds[n].kind != KIND_ASYNCIO:
            return False
        e = &self._fds[n]
        old = e.writer if writer else e.reader
        if old == NULL:
            return False
        self._check_fork()
        mask = e.events & ~(<uint32_t>(EPOLLOUT if writer else EPOLLIN))
        if writer:
            e.writer = NULL
        else:
            e.reader = NULL
        if e.reader == NULL and e.writer == NULL:
            self._epoll_ctl(EPOLL_CTL_DEL, n, 0, 0)
            self._clear_entry(n)
        else:
            e.events = mask
            if self._epoll_ctl(EPOLL_CTL_MOD, n, mask, e.gen) < 0:
                self._clear_entry(n)
        (<Handle>old).cancel()
        Py_DECREF(<object>old)
        return True

    cdef int _transport_ctl(self, int fd, object tr, uint32_t new) except -1:
        """Register, modify or drop a StreamCore's interest in its fd."""
        cdef FdEntry *e
        cdef bint mine = (fd < self._nfds and self._fds[fd].kind == KIND_TRANSPORT
                          and self._fds[fd].obj == <PyObject *>tr)
        if mine:
            e = &self._fds[fd]
            if new == 0:
                self._epoll_ctl(EPOLL_CTL_DEL, fd, 0, 0)
                self._clear_entry(fd)
            elif new != e.events:
                if self._epoll_ctl(EPOLL_CTL_MOD, fd, new, e.gen) < 0:
                    raise _common.fd_error(errno, fd)
                e.events = new
            return 0
        if new == 0:
            return 0
        self._check_open()
        self._check_fork()
        if fd < self._nfds and self._fds[fd].kind != KIND_FREE and self._fd_matches(fd):
            raise RuntimeError(f"File descriptor {fd} is already registered with the loop")
        self._register(fd, new, KIND_TRANSPORT, tr, None, None)
        return 0

    # A StreamCore's fd is refused by _add_rw/_remove_rw themselves; fds of
    # Python transports are checked by the facade's _ensure_fd_no_transport,
    # asked only while such a transport is alive.
    def add_reader(self, fd, callback, *args):
        """Calls ``callback(*args)`` whenever ``fd`` is readable (asyncio API).

        ``fd`` is an int or an object with ``fileno()``. A reader already set
        for ``fd`` is replaced; a writer is kept. Call it from the loop's
        thread.

        Raises ``TypeError`` if ``callback`` is not callable; ``ValueError``,
        as asyncio, if ``fd`` is neither an int nor an object with a usable
        ``fileno()`` ("Invalid file object"), is negative ("Invalid file
        descriptor"), closed or one of the loop's own fds; ``FileExistsError``
        if ``fd`` is registered with ``add_handler``; ``RuntimeError`` if ``fd`` belongs to a transport
        or the loop is closed.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        self._add_rw(fd, callback, args, False)

    def add_writer(self, fd, callback, *args):
        """Calls ``callback(*args)`` whenever ``fd`` is writable (asyncio API).

        ``fd`` is an int or an object with ``fileno()``. A writer already set
        for ``fd`` is replaced; a reader is kept. Call it from the loop's
        thread.

        Raises ``TypeError`` if ``callback`` is not callable; ``ValueError``,
        as asyncio, if ``fd`` is neither an int nor an object with a usable
        ``fileno()`` ("Invalid file object"), is negative ("Invalid file
        descriptor"), closed or one of the loop's own fds; ``FileExistsError``
        if ``fd`` is registered with ``add_handler``; ``RuntimeError`` if ``fd`` belongs to a transport
        or the loop is closed.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        self._add_rw(fd, callback, args, True)

    def remove_reader(self, fd):
        """Stops watching ``fd`` for reading (asyncio API).

        Returns ``True`` if a reader was removed, ``False`` if there was none
        (or the loop is closed). Raises ``ValueError`` for an invalid ``fd``, as
        ``add_reader`` does (also on a closed loop), and ``RuntimeError`` if
        ``fd`` belongs to a transport. Call it from the loop's thread.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        return self._remove_rw(fd, False)

    def remove_writer(self, fd):
        """Stops watching ``fd`` for writing (asyncio API).

        Returns ``True`` if a writer was removed, ``False`` if there was none
        (or the loop is closed). Raises ``ValueError`` for an invalid ``fd``, as
        ``add_reader`` does (also on a closed loop), and ``RuntimeError`` if
        ``fd`` belongs to a transport. Call it from the loop's thread.
        """
        if self._py_owned_fds:
            self._ensure_fd_no_transport(fd)
        return self._remove_rw(fd, True)

    # Facade hooks' defaults (_common.FacadeHooks).

    def _ensure_fd_no_transport(self, fd):
        """Overridden by the facade (it knows the transports)."""

    def _check_thread(self):
        """Debug mode: overridden by the facade (it knows the loop's thread)."""

    # -- signals, fork, close ----------------------------------------------

    def _signal_wakeup_fd(self):
        """Write end of the pipe the loop watches, for signal.set_wakeup_fd.

        An eventfd cannot serve: CPython writes one byte per signal, and
        eventfd only accepts 8-byte writes.
        """
        self._check_open()
        return self._sig_wfd

    cdef int _open_wakers(self) except -1:
        # Created with the loop, before any user fd: a stale registration of
        # a user fd can then never share a number with them.
        cdef int fds[2]
        self._waker_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self._waker_fd < 0:
            PyErr_SetFromErrno(OSError)
        if pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0:
            PyErr_SetFromErrno(OSError)
        self._sig_rfd = fds[0]
        self._sig_wfd = fds[1]
        # The wakers carry generation 0; user fds never do.
        if (self._epoll_ctl(EPOLL_CTL_ADD, self._waker_fd, EPOLLIN, 0) < 0
                or self._epoll_ctl(EPOLL_CTL_ADD, self._sig_rfd, EPOLLIN, 0) < 0):
            PyErr_SetFromErrno(OSError)
        return 0

    def reinit_after_fork(self):
        """Makes a loop inherited through ``fork()`` usable in the child.

        After ``os.fork()`` the child's copy of the loop raises ``RuntimeError``
        from every method that schedules, registers or runs, until this is
        called. It gives the child its own epoll set and wake-up fds and
        registers the same fds with them; pending callbacks and timers are
        kept. The parent's loop is not affected. Raises ``RuntimeError`` if the
        loop is closed.
        """
        # The parent's epoll set is shared with the child after fork(); the
        # child must never edit it, so nothing here calls EPOLL_CTL on it.
        # Registered handlers are re-added to the new set; timers and
        # callbacks are kept.
        cdef int fd
        if self._closed:
            raise RuntimeError("IOLoop is closed")
        if self._epfd >= 0:
            close(self._epfd)
        if self._waker_fd >= 0:
            close(self._waker_fd)
        if self._sig_rfd >= 0:
            close(self._sig_rfd)
            close(self._sig_wfd)
        self._sig_rfd = self._sig_wfd = -1
        self._epfd = epoll_create1(EPOLL_CLOEXEC)
        if self._epfd < 0:
            PyErr_SetFromErrno(OSError)
        self._open_wakers()
        for fd in range(self._nfds):
            if self._fds[fd].kind == KIND_FREE:
                continue
            if self._epoll_ctl(EPOLL_CTL_ADD, fd, self._fds[fd].events, self._fds[fd].gen) < 0:
                self._clear_entry(fd)
        self._ev_pos = self._ev_count = 0
        self._polling = False
        self._fork_epoch = _fork_epoch

    def _mark_closed(self):
        self._closed = True

    def _close(self):
        """Release everything. The facade checks is_running() first."""
        self._closed = True
        self._free_all()

    cdef int _free_all(self) noexcept:
        cdef Py_ssize_t i, n
        cdef ReadyItem *rq = self._rq
        cdef TimerEntry *heap = self._heap
        cdef PyObject **due = self._due
        cdef FdEntry *fds = self._fds
        cdef int nfds = self._nfds
        cdef Py_ssize_t rq_head = self._rq_head, rq_len = self._rq_len, rq_cap = self._rq_cap
        cdef Py_ssize_t heap_len = self._heap_len
        cdef Py_ssize_t due_pos = self._due_pos, due_len = self._due_len
        cdef PyObject **wq = self._wq
        cdef PyObject **wq_spare = self._wq_spare
        cdef Py_ssize_t wq_len = self._wq_len
        self._closed = True
        if self._epfd >= 0:
            close(self._epfd)
        if self._waker_fd >= 0:
            close(self._waker_fd)
        if self._sig_rfd >= 0:
            close(self._sig_rfd)
        if self._sig_wfd >= 0:
            close(self._sig_wfd)
        self._epfd = self._waker_fd = self._sig_rfd = self._sig_wfd = -1
        # Detach every buffer before dropping references: a __del__ run by
        # a decref may call back into this loop.
        self._rq = NULL
        self._rq_len = self._rq_cap = self._rq_head = 0
        self._heap = NULL
        self._heap_len = self._heap_cap = self._heap_cancelled = 0
        self._due = NULL
        self._due_len = self._due_pos = self._due_cap = 0
        self._fds = NULL
        self._nfds = 0
        self._ev_pos = self._ev_count = 0
        self._wq = self._wq_spare = NULL
        self._wq_len = self._wq_cap = self._wq_spare_cap = 0
        if self._events != NULL:
            PyMem_Free(self._events)
            self._events = NULL
        if rq != NULL:
            for i in range(rq_len):
                if rq[(rq_head + i) & (rq_cap - 1)].handle != NULL:
                    _release_handle(rq[(rq_head + i) & (rq_cap - 1)].handle)
                _release_item(&rq[(rq_head + i) & (rq_cap - 1)])
            PyMem_Free(rq)
        if heap != NULL:
            # Mark them all first: a __del__ run by one decref may cancel
            # another, which must not touch the (detached) heap.
            for i in range(heap_len):
                (<TimerHandle>heap[i].handle).st.in_heap = 0
            for i in range(heap_len):
                _release_timer(heap[i].handle)
            for i in range(heap_len):
                Py_XDECREF(heap[i].handle)
            PyMem_Free(heap)
        if due != NULL:
            for i in range(due_pos, due_len):
                if due[i] != NULL:
                    _release_timer(due[i])
                Py_XDECREF(due[i])
            PyMem_Free(due)
        if fds != NULL:
            for i in range(nfds):
                if fds[i].reader != NULL:
                    _release_handle(fds[i].reader)
                if fds[i].writer != NULL:
                    _release_handle(fds[i].writer)
                Py_XDECREF(fds[i].obj)
                Py_XDECREF(fds[i].reader)
                Py_XDECREF(fds[i].writer)
            PyMem_Free(fds)
        if wq != NULL:
            for i in range(wq_len):
                Py_XDECREF(wq[i])
            PyMem_Free(wq)
        if wq_spare != NULL:
            PyMem_Free(wq_spare)
        return 0

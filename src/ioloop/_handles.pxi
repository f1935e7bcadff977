# Included by _core.pyx: Handle and TimerHandle, and making a Handle.
#
# Owns: the two handle types (their fields are declared in _core.pxd), the
# context a new handle captures, and releasing a handle's callback and
# arguments. Invariants: a handle drops its callback and arguments as soon
# as the loop is done with it (ran, cancelled, fd removed, loop closed) and
# keeps its context; a handle is not a GC container (the loop reports what
# it holds, see _gc.pxi); debug-only data lives in _common.debug_info, not
# in the handle.

# Handles are not GC containers (no_gc: a GC header would cost 16 bytes per
# pending timer). While the loop owns a handle, Loop's traverse reports what
# the handle holds; once the loop is done with it (it ran, it was cancelled,
# its fd was removed, the loop closed) the handle drops its callback and
# arguments, so a handle the user keeps cannot close an uncollectable cycle
# (``self.h = loop.call_later(1, self.cb)``; a task sleeping when its loop
# closed). The context stays: get_context() keeps answering.
cdef inline void _release_handle(PyObject *obj) noexcept:
    cdef Handle h = <Handle>obj
    h.callback = None
    h.args = None


cdef inline void _release_timer(PyObject *obj) noexcept:
    cdef TimerHandle h = <TimerHandle>obj
    h.callback = None
    h.args = None
    h.kwargs = None


cdef enum:
    # Handle._flags: the handle has an entry in _common.debug_info (made in
    # debug mode: where it was created, its repr when cancelled).
    HF_DEBUG = 1
    # Frames of the caller's stack recorded in debug mode, as many as asyncio
    # keeps (_common.STACK_DEPTH and STACK_DEPTH_CALL_LATER).
    DEBUG_FRAMES = 8
    DEBUG_FRAMES_CALL_LATER = 7


@cython.freelist(256)
@cython.final
@cython.no_gc
cdef class Handle:
    """A callback scheduled with ``call_soon`` or ``call_soon_threadsafe``.

    Returned by those methods; not created directly. ``cancel()`` keeps the
    callback from running.
    """

    def cancel(self):
        """Keeps the callback from running, if it has not run yet.

        The handle drops its references to the callback and its arguments
        at once. Cancelling twice, or after the callback ran, is harmless.
        Call it from the loop's thread.
        """
        if not self._cancelled:
            self._cancelled = True
            if self._flags & HF_DEBUG:
                # As asyncio in debug mode: keep the repr, which names the
                # callback ("Executing <Handle cancelled cb() ...> took").
                _common.debug_keep_repr(self)
            # Release the closure at once: a cancelled handle may sit in
            # the queue for a while.
            _release_handle(<PyObject *>self)

    def cancelled(self):
        """Returns ``True`` once ``cancel()`` has been called."""
        return True if self._cancelled else False

    def get_context(self):
        """Returns the ``contextvars.Context`` the callback runs in."""
        if self.context is None:
            # Scheduled from an empty context, the callback would run in the
            # loop's shared empty context; from now on it has (and runs in)
            # its own, so that this answer is always the same object and the
            # one it runs in, as asyncio's (the loop reads a handle's context
            # when it runs it).
            self.context = PyContext_New()
        return self.context

    @property
    def _source_traceback(self):
        # Debug mode only, as asyncio's: where the handle was created.
        if self._flags & HF_DEBUG:
            return _common.source_traceback(self)
        return None

    def __repr__(self):
        if self._flags & HF_DEBUG:
            kept = _common.debug_kept_repr(self)
            if kept is not None:
                return kept
        return _common.handle_repr(self, "Handle", self._cancelled, self.callback,
                                   self.args, None)


cdef int _timer_cmp(TimerHandle a, TimerHandle b) noexcept:
    if a._when != b._when:
        return -1 if a._when < b._when else 1
    if a.st.seq != b.st.seq:
        return -1 if a.st.seq < b.st.seq else 1
    return 0


@cython.freelist(256)
@cython.final
@cython.no_gc
cdef class TimerHandle:
    """A timer scheduled with ``call_later``, ``call_at`` or ``add_timeout``.

    Returned by those methods; not created directly. Pass it to
    ``remove_timeout`` (or call its ``cancel()``) to cancel the timer.
    """

    def cancel(self):
        """Keeps the callback from running, if it has not run yet.

        The same as ``loop.remove_timeout(timer)``. The timer drops its
        references to the callback and its arguments at once. Cancelling
        twice, or after the callback ran, is harmless. Call it from the
        loop's thread.
        """
        if not self.st.cancelled:
            self.st.cancelled = 1
            if self.st.debug:
                _common.debug_keep_repr(self)
            _release_timer(<PyObject *>self)
            if self.st.in_heap:
                (<Loop>self._loop)._timer_cancelled()

    def cancelled(self):
        """Returns ``True`` once the timer has been cancelled (by ``cancel()``
        or ``remove_timeout``).
        """
        return True if self.st.cancelled else False

    def when(self):
        """Returns the time the timer is due, in seconds on the loop's
        ``time()`` scale.
        """
        return self._when

    # Ordered by deadline, then scheduling order (FIFO on ties), as the
    # twin's (whose heap uses that order).
    def __lt__(self, other):
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return _timer_cmp(self, <TimerHandle>other) < 0

    def __le__(self, other):
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return _timer_cmp(self, <TimerHandle>other) <= 0

    def __gt__(self, other):
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return _timer_cmp(self, <TimerHandle>other) > 0

    def __ge__(self, other):
        if not isinstance(other, TimerHandle):
            return NotImplemented
        return _timer_cmp(self, <TimerHandle>other) >= 0

    def __hash__(self):
        # Equality stays identity; Cython would drop the hash of a class
        # with comparisons.
        return object.__hash__(self)

    def get_context(self):
        """Returns the ``contextvars.Context`` the callback runs in."""
        if self.context is None:
            # Scheduled from an empty context, the callback would run in the
            # loop's shared empty context; from now on it has (and runs in)
            # its own, so that this answer is always the same object and the
            # one it runs in, as asyncio's (the loop reads a handle's context
            # when it runs it).
            self.context = PyContext_New()
        return self.context

    @property
    def _source_traceback(self):
        if self.st.debug:
            return _common.source_traceback(self)
        return None

    @property
    def _asyncio_api(self):
        # Made by call_later/call_at (not add_timeout): where its failure
        # is reported.
        return True if self.st.aio else False

    def __repr__(self):
        if self.st.debug:
            kept = _common.debug_kept_repr(self)
            if kept is not None:
                return kept
        return _common.handle_repr(self, "TimerHandle", self.st.cancelled, self.callback,
                                   self.args, self._when)


cdef inline object _capture_context():
    """A copy of the current context, or None when it is empty.

    Most callbacks are scheduled from an empty context; they all run in the
    loop's one shared empty context instead of a fresh copy each (a GC-tracked
    allocation per callback). ``Loop._run_callback`` replaces the shared one
    whenever a callback leaves something set in it, so no value ever leaks
    from one callback to another.
    """
    cdef PyObject *cur = _PyThreadState_Get().context
    if cur == NULL or len(<object>cur) == 0:
        return None
    return PyContext_CopyCurrent()


cdef inline Handle _new_handle(object callback, tuple args, object context):
    cdef Handle h = Handle.__new__(Handle)
    h.callback = callback
    h.args = args
    if context is None:
        h.context = _capture_context()
    else:
        if not PyContext_CheckExact(context):
            _common.check_context(context)
        h.context = context
    return h

# Included by _core.pyx: Loop's garbage-collection support.
#
# Owns: the tp_traverse/tp_clear that Loop's type gets at import, wrapping
# Cython's own. Invariant: every reference the loop keeps in C memory (ready
# queue, heap, due list, write queue, fd table) is visited exactly once,
# and the callbacks and arguments of the handles it owns are visited on
# their behalf (handles are not GC containers); contexts are not visited.

# -- garbage collection ---------------------------------------------------------
# The queue, heap and fd table hold references in C memory, invisible to the
# cyclic GC. A loop dropped without close() while a pending callback refers
# back to it (``loop.call_later(5, loop.stop)``) would leak with its fds. We
# extend the type's tp_traverse/tp_clear to cover the C memory.

cdef traverseproc _base_traverse = NULL
cdef inquiry _base_clear = NULL


cdef int _loop_traverse(PyObject *o, visitproc visit, void *arg) noexcept:
    cdef Loop self = <Loop>o
    cdef Py_ssize_t i
    cdef int r
    if _base_traverse != NULL:
        r = _base_traverse(o, visit, arg)
        if r:
            return r
    cdef ReadyItem *item
    cdef PyObject *parts[5]
    cdef int k
    for i in range(self._rq_len):
        item = &self._rq[(self._rq_head + i) & (self._rq_cap - 1)]
        parts[0] = item.handle
        parts[1] = item.callback
        parts[2] = item.args
        parts[3] = item.kwargs
        parts[4] = item.context
        if item.handle != NULL:
            r = _visit_handle(<Handle>item.handle, visit, arg)
            if r:
                return r
        for k in range(1, 5):
            if parts[k] != NULL:
                r = visit(parts[k], arg)
                if r:
                    return r
    for i in range(self._heap_len):
        r = _visit_timer(<TimerHandle>self._heap[i].handle, visit, arg)
        if r:
            return r
    for i in range(self._due_pos, self._due_len):
        if self._due[i] != NULL:
            r = _visit_timer(<TimerHandle>self._due[i], visit, arg)
            if r:
                return r
    for i in range(self._wq_len):
        r = visit(self._wq[i], arg)
        if r:
            return r
    for i in range(self._nfds):
        if self._fds[i].kind != KIND_FREE:
            if self._fds[i].obj != NULL:
                r = visit(self._fds[i].obj, arg)
                if r:
                    return r
            if self._fds[i].reader != NULL:
                r = _visit_handle(<Handle>self._fds[i].reader, visit, arg)
                if r:
                    return r
            if self._fds[i].writer != NULL:
                r = _visit_handle(<Handle>self._fds[i].writer, visit, arg)
                if r:
                    return r
    return 0


# A handle is not a GC container, so the loop reports the references of the
# handles it holds as its own. Each such handle sits in exactly one place in
# the loop, so every reference is reported once. Contexts are left out on
# purpose: a context the GC cannot see through only makes it conservative,
# while a cleared context still reachable from a user's handle would crash
# on get_context().run(); callbacks and arguments, which users cannot call
# through a handle, are safe to report.
cdef inline int _visit_parts(object callback, object args, object kwargs,
                             visitproc visit, void *arg) noexcept:
    cdef int r
    if callback is not None:
        r = visit(<PyObject *>callback, arg)
        if r:
            return r
    if args is not None:
        r = visit(<PyObject *>args, arg)
        if r:
            return r
    if kwargs is not None:
        return visit(<PyObject *>kwargs, arg)
    return 0


cdef inline int _visit_handle(Handle h, visitproc visit, void *arg) noexcept:
    return _visit_parts(h.callback, h.args, None, visit, arg)


cdef inline int _visit_timer(TimerHandle h, visitproc visit, void *arg) noexcept:
    return _visit_parts(h.callback, h.args, h.kwargs, visit, arg)


cdef int _loop_clear(PyObject *o) noexcept:
    if _base_clear != NULL:
        _base_clear(o)
    (<Loop>o)._free_all()
    return 0


cdef PyTypeObject_gc *_loop_type = <PyTypeObject_gc *>Loop
if not (_loop_type.tp_flags & Py_TPFLAGS_HAVE_GC):
    raise ImportError("ioloop._core.Loop was built without GC support")
_base_traverse = _loop_type.tp_traverse
_base_clear = _loop_type.tp_clear
_loop_type.tp_traverse = _loop_traverse
_loop_type.tp_clear = _loop_clear

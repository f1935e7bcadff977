# Included by _core.pyx: add_callback as a METH_FASTCALL method.
#
# The hottest classic call. Arguments arrive as a C array (vectorcall): the
# positional ones become the callback's args tuple directly and a dict is
# built only when keyword arguments were given.
#
# Owns: IOLoop.add_callback's entry point, a METH_FASTCALL C function put in
# Loop's dict at import (Cython's own `def` would build an args tuple and a
# kwargs dict per call), and removing Cython's __pyx_vtable__ from the dict.
# Invariant: it behaves as `def add_callback(self, callback, *args,
# **kwargs)` would, errors included; the docstring is the one help() shows.

cdef extern from *:
    """
    typedef PyObject *(*ioloop_fastcall_t)(PyObject *, PyObject **, Py_ssize_t, PyObject *);
    static ioloop_fastcall_t ioloop_add_callback_impl = NULL;
    static PyObject *ioloop_add_callback_entry(PyObject *self, PyObject *const *args,
                                               size_t nargsf, PyObject *kwnames) {
        return ioloop_add_callback_impl(self, (PyObject **)args,
                                        PyVectorcall_NARGS(nargsf), kwnames);
    }
    static PyMethodDef ioloop_add_callback_def = {
        "add_callback", (PyCFunction)(void (*)(void))ioloop_add_callback_entry,
        METH_FASTCALL | METH_KEYWORDS,
        "add_callback($self, callback, *args, **kwargs)\\n--\\n\\n"
        "Calls ``callback(*args, **kwargs)`` on the next iteration of the loop.\\n"
        "\\n"
        "This is the one method (with ``call_soon_threadsafe``, its asyncio\\n"
        "form) that is safe to call from any thread, and from a signal handler:\\n"
        "use it to hand work over to the loop's thread. It wakes the loop up if\\n"
        "it is waiting for I/O. Callbacks run in the order they were added, each\\n"
        "in a copy of the ``contextvars`` context it was added from.\\n"
        "\\n"
        "An exception raised by the callback goes to\\n"
        "``handle_callback_exception`` and the loop carries on. If the callback\\n"
        "returns an awaitable, the loop runs it to completion as a task.\\n"
        "\\n"
        "Returns ``None``: the call cannot be cancelled (``call_soon`` returns a\\n"
        "``Handle`` that can). After ``close()`` the call is silently dropped.\\n"
        "Raises ``TypeError`` if ``callback`` is not callable."
    };
    """
    ctypedef PyObject *(*ioloop_fastcall_t)(PyObject *, PyObject **, Py_ssize_t, PyObject *)
    ioloop_fastcall_t ioloop_add_callback_impl
    PyMethodDef ioloop_add_callback_def


cdef object _add_callback_fastcall(object self, PyObject **args, Py_ssize_t nargs,
                                   PyObject *kwnames):
    cdef Py_ssize_t i, nkw = 0
    cdef tuple cb_args
    cdef dict kwargs = None
    cdef object callback = None
    cdef object value
    cdef bint have_callback = nargs >= 1
    if kwnames != NULL:
        nkw = PyTuple_GET_SIZE(<object>kwnames)
    if have_callback:
        callback = <object>args[0]
    if nargs <= 1:
        cb_args = ()
    else:
        cb_args = PyTuple_New(nargs - 1)
        for i in range(1, nargs):
            value = <object>args[i]
            Py_INCREF(value)
            PyTuple_SET_ITEM(cb_args, i - 1, value)
    if nkw:
        kwargs = {}
        for i in range(nkw):
            key = <object>PyTuple_GET_ITEM(<object>kwnames, i)
            value = <object>args[nargs + i]
            if key == "callback":
                if have_callback:
                    raise TypeError("add_callback() got multiple values for argument 'callback'")
                callback = value
                have_callback = True
            else:
                kwargs[key] = value
        if not kwargs:
            kwargs = None
    if not have_callback:
        raise TypeError("add_callback() missing 1 required positional argument: 'callback'")
    return (<Loop>self)._add_callback(callback, cb_args, kwargs)


ioloop_add_callback_impl = <ioloop_fastcall_t><void *>_add_callback_fastcall
ioloop_install_method(<PyTypeObject *>Loop, &ioloop_add_callback_def)

# help(ioloop.IOLoop) lists everything IOLoop inherits from Loop, and Cython
# leaves Loop's C method table in the type's dict as ``__pyx_vtable__`` (a
# capsule). Nothing reads it once this module is initialised (a subclass,
# IOLoop included, gets the table from C), except another Cython module
# that cimports Loop, which ioloop does not support. It goes, so that
# help() shows only the API.
ioloop_drop_vtable_entry(<PyTypeObject *>Loop)

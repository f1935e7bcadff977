# cython: language_level=3, auto_pickle=False, autotestdict=False
"""The ioloop engine: epoll table, timer heap, ready queue, eventfd waker.

One iteration (``_run_once``) is, in this order:

1. poll (``epoll_wait`` without the GIL; 0 ms when work is ready),
2. dispatch I/O events straight to their handlers,
3. collect the due timers (before anything runs),
4. run the callbacks that were ready (a snapshot),
5. run the collected timers that were not cancelled meanwhile.

This is the only place where callbacks, handlers and timers are called.
The pure-Python twin (``_engine_py.py``) implements the same contract.

The module is this file and the files it includes, in this order:

- ``_stream.pxi``: the compiled stream transport (``StreamCore``);
- ``_constants.pxi``: fd kinds, epoll buffer bounds, poll caps;
- ``_clock.pxi``: the clocks, the fork epoch, per-callback timing;
- ``_checks.pxi``: the fast paths of the argument checks (``_common`` has
  the rules and messages);
- ``_handles.pxi``: ``Handle`` and ``TimerHandle``;
- ``_engine.pxi``: ``Loop``: ready queue, timer heap, fd table, epoll,
  waker, one iteration, the counters;
- ``_gc.pxi``: the traverse/clear that make Loop's C memory visible to the
  cyclic GC;
- ``_fastcall.pxi``: ``add_callback`` as a METH_FASTCALL method.

Their C fields are declared in ``_core.pxd`` (the handles' in
``_handles.pxd``, which it includes); C and CPython declarations
Cython does not ship are in ``includes/``. The calls the engine makes into
the facade (``ioloop.IOLoop``) are listed, with their contracts, in
``_common.FacadeHooks``.
"""

cimport cython
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF, Py_XDECREF
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.exc cimport PyErr_SetFromErrno, PyErr_CheckSignals
from cpython.object cimport PyCallable_Check, PyTypeObject
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM, PyTuple_GET_SIZE, PyTuple_GET_ITEM
from cpython.contextvars cimport PyContext_CheckExact, PyContext_CopyCurrent, PyContext_Enter, PyContext_Exit, PyContext_New
from libc.errno cimport errno, EINTR, EEXIST, ENOENT, EBADF
from libc.math cimport ceil
from libc.stdint cimport uint32_t, uint64_t, int64_t
from libc.string cimport memset
from posix.time cimport clock_gettime, nanosleep, timespec, CLOCK_MONOTONIC
from posix.unistd cimport read, write, close
from posix.stat cimport struct_stat, fstat

from .includes.linux cimport (
    epoll_event, epoll_create1, epoll_ctl, epoll_wait, eventfd, pipe2, dup3,
    EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL,
    EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP,
    EFD_CLOEXEC, EFD_NONBLOCK, O_CLOEXEC, O_NONBLOCK,
)
from .includes.clock cimport (
    IOLOOP_TICKS_ARE_NS, ioloop_ticks, ioloop_clock_ns, ioloop_lag_bucket,
    ioloop_load_ptr, ioloop_load_u64,
)
from .includes.python cimport (
    visitproc, traverseproc, inquiry, PyTypeObject_gc, Py_TPFLAGS_HAVE_GC,
    _PyThreadState_Get, PyMethodDef, ioloop_install_method,
    ioloop_drop_vtable_entry,
)

import logging as _logging
import os as _os

from . import _common

include "_stream.pxi"

_logger = _logging.getLogger("ioloop")

include "_constants.pxi"
include "_clock.pxi"
include "_checks.pxi"
include "_handles.pxi"
include "_engine.pxi"
include "_gc.pxi"
include "_fastcall.pxi"

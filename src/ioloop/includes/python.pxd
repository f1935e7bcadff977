# CPython declarations Cython does not ship (cimported by _core.pyx): the
# type slots the GC patch in _gc.pxi replaces, the thread state's context
# (read by _capture_context in _handles.pxi without a call), and the two
# helpers _fastcall.pxi uses to put a hand-written method into Loop's dict.
from cpython.ref cimport PyObject
from cpython.object cimport PyTypeObject


cdef extern from "Python.h":
    ctypedef int (*visitproc)(PyObject *, void *) noexcept
    ctypedef int (*traverseproc)(PyObject *, visitproc, void *) noexcept
    ctypedef int (*inquiry)(PyObject *) noexcept
    ctypedef struct PyTypeObject_gc "PyTypeObject":
        traverseproc tp_traverse
        inquiry tp_clear
        unsigned long tp_flags
    enum:
        Py_TPFLAGS_HAVE_GC

    ctypedef struct _ThreadState "PyThreadState":
        PyObject *context
    _ThreadState *_PyThreadState_Get "PyThreadState_Get"() nogil

    ctypedef struct PyMethodDef:
        pass


cdef extern from *:
    """
    static int ioloop_install_method(PyTypeObject *tp, PyMethodDef *def) {
        PyObject *descr;
        int rc;
        if (tp->tp_dict == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "ioloop: type without a dict");
            return -1;
        }
        descr = PyDescr_NewMethod(tp, def);
        if (descr == NULL) return -1;
        rc = PyDict_SetItemString(tp->tp_dict, def->ml_name, descr);
        Py_DECREF(descr);
        PyType_Modified(tp);
        return rc;
    }
    static int ioloop_drop_vtable_entry(PyTypeObject *tp) {
        if (tp->tp_dict == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "ioloop: type without a dict");
            return -1;
        }
        if (PyDict_DelItemString(tp->tp_dict, "__pyx_vtable__") < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
            PyErr_Clear();
        }
        PyType_Modified(tp);
        return 0;
    }
    """
    # Adds ``def`` to the type's dict as a method descriptor.
    int ioloop_install_method(PyTypeObject *tp, PyMethodDef *d) except -1
    # Removes Cython's ``__pyx_vtable__`` capsule from the type's dict.
    int ioloop_drop_vtable_entry(PyTypeObject *tp) except -1

# Included by _core.pxd: the C fields of Handle and TimerHandle (their
# methods are in _handles.pxi).
#
# Handles are not GC containers (no GC header, no collection pressure per
# callback): while a handle is queued, the loop's tp_traverse visits its
# callback, args and kwargs on its behalf; see _gc.pxi.
# Debug-only data (where a handle was created) lives in a side table
# (_common.debug_info), not in the handles: a pending timer stays 80 bytes.

cdef class Handle:
    cdef object callback
    cdef object args
    cdef object context
    cdef object __weakref__
    cdef unsigned char _cancelled
    cdef unsigned char _flags     # HF_* bits (_core.pyx)


cdef extern from *:
    """
    /* A TimerHandle's state in one 64-bit word: the insertion sequence that
       breaks ties between equal deadlines (2**56 timers per loop) and the
       flag bits. */
    typedef struct {
        unsigned long long seq : 56;
        unsigned long long cancelled : 1;
        unsigned long long in_heap : 1;
        unsigned long long aio : 1;     /* scheduled by call_later/call_at */
        unsigned long long debug : 1;   /* has an entry in the debug table */
    } ioloop_timer_bits;

    /* A fresh timer's word in one store (the bits start at zero). */
    static inline ioloop_timer_bits ioloop_timer_bits_new(unsigned long long seq, int aio) {
        ioloop_timer_bits b = {0};
        b.seq = seq;
        b.aio = aio != 0;
        return b;
    }
    """
    ctypedef struct ioloop_timer_bits:
        uint64_t seq
        unsigned int cancelled
        unsigned int in_heap
        unsigned int aio
        unsigned int debug
    ioloop_timer_bits ioloop_timer_bits_new(uint64_t seq, int aio)


cdef class TimerHandle:
    cdef object callback
    cdef object args
    cdef object kwargs
    cdef object context
    # Borrowed, and only meaningful while in_heap: the loop detaches every
    # handle from its heap before it goes away.
    cdef PyObject *_loop
    cdef object __weakref__
    cdef double _when
    cdef ioloop_timer_bits st

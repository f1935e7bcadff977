# C declarations for the engine's clocks (cimported by _core.pyx; used in
# _clock.pxi and by the watchdog in _engine.pxi).
#
# Each callback, handler and timer is timed with two reads of a cycle
# counter (x86's TSC, aarch64's virtual counter: one instruction, no
# syscall, no vDSO call), and so is each blocking epoll_wait; elsewhere,
# clock_gettime(CLOCK_MONOTONIC) in nanoseconds. _clock.pxi turns ticks into
# seconds. Everything here is static inline C: no state.
from cpython.ref cimport PyObject
from libc.stdint cimport uint64_t


cdef extern from *:
    """
    #include <time.h>
    static inline unsigned long long ioloop_clock_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
    }
    #if defined(__x86_64__) || defined(__i386__)
    /* The TSC: constant-rate on every x86 CPU since about 2006
       ("constant_tsc"), synchronised across cores. */
    #include <x86intrin.h>
    #define IOLOOP_TICKS_ARE_NS 0
    static inline unsigned long long ioloop_ticks(void) { return __rdtsc(); }
    #elif defined(__aarch64__)
    #define IOLOOP_TICKS_ARE_NS 0
    static inline unsigned long long ioloop_ticks(void) {
        unsigned long long v;
        __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
        return v;
    }
    #else
    #define IOLOOP_TICKS_ARE_NS 1
    static inline unsigned long long ioloop_ticks(void) { return ioloop_clock_ns(); }
    #endif
    /* The watchdog thread reads what the loop's thread stores (aligned
       words) without the GIL. */
    #define ioloop_load_ptr(p) __atomic_load_n((p), __ATOMIC_RELAXED)
    #define ioloop_load_u64(p) __atomic_load_n((p), __ATOMIC_RELAXED)
    /* Loop lag in seconds -> histogram bucket: the bit length of the lag in
       whole microseconds, capped (the same as int.bit_length in the twin). */
    static inline int ioloop_lag_bucket(double lag, int nbuckets) {
        unsigned long long us;
        int b;
        if (!(lag > 0.0)) return 0;
        if (lag >= 1e12) return nbuckets - 1;
        us = (unsigned long long)(lag * 1e6);
        b = us ? 64 - __builtin_clzll(us) : 0;
        return b < nbuckets ? b : nbuckets - 1;
    }
    """
    int IOLOOP_TICKS_ARE_NS
    uint64_t ioloop_ticks() noexcept nogil
    uint64_t ioloop_clock_ns() noexcept nogil
    int ioloop_lag_bucket(double lag, int nbuckets) noexcept nogil
    PyObject *ioloop_load_ptr(PyObject **p) noexcept nogil
    uint64_t ioloop_load_u64(uint64_t *p) noexcept nogil

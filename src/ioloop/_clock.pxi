# Included by _core.pyx: clocks, the fork epoch and per-callback timing.
#
# Owns: _monotonic() (the loop's clock before its virtual offset: the same
# arithmetic as time.monotonic(), so deadlines from either compare exactly),
# the tick-to-seconds rate (measured against CLOCK_MONOTONIC since import,
# final after 1 s), the module's fork epoch (bumped in a forked child, so a
# loop notices it was inherited), and _cb_enter/_cb_exit, the two stores
# around every callback that the watchdog and "longest callback" read.
# Invariant: nothing here allocates or takes the GIL on the hot path; the C
# side (the cycle counter, atomic loads) is in includes/clock.pxd.

cdef uint64_t _fork_epoch = 0


# -- observability: a cheap clock for per-callback durations ---------------
#
# Each callback, handler and timer is timed with two reads of a cycle
# counter (x86's TSC, aarch64's virtual counter: one instruction, no
# syscall, no vDSO call), and so is each blocking epoll_wait; elsewhere,
# clock_gettime(CLOCK_MONOTONIC) in nanoseconds. Ticks become seconds with a
# rate measured against CLOCK_MONOTONIC since the module was imported.


cdef uint64_t _cal_ticks = ioloop_ticks()
cdef uint64_t _cal_ns = ioloop_clock_ns()
cdef double _tick_rate = 1e9      # ticks per second
cdef bint _tick_rate_final = IOLOOP_TICKS_ARE_NS != 0


cdef double _ticks_to_seconds(uint64_t ticks) noexcept:
    """Ticks -> seconds, with the rate measured since import (final after 1 s)."""
    global _tick_rate, _tick_rate_final
    cdef uint64_t t, ns
    if not _tick_rate_final:
        t = ioloop_ticks()
        ns = ioloop_clock_ns()
        while ns - _cal_ns < 1000000:   # measure over 1 ms at least (once)
            t = ioloop_ticks()
            ns = ioloop_clock_ns()
        _tick_rate = <double>(t - _cal_ticks) * 1e9 / <double>(ns - _cal_ns)
        if ns - _cal_ns > 1000000000:
            _tick_rate_final = True
    return <double>ticks / _tick_rate


cdef double _tick_rate_now() noexcept:
    _ticks_to_seconds(0)   # calibrates
    return _tick_rate


# What runs now, for the watchdog and "longest callback": two plain stores
# around each callback, handler, timer or transport event. ``report`` is
# borrowed: the caller holds it until _cb_exit, which every path reaches
# (or _run's finally clears it).
cdef inline void _cb_enter(Loop self, object report) noexcept:
    self._cur_report = <PyObject *>report
    self._st.cur_start = ioloop_ticks()


cdef inline void _cb_exit(Loop self, object callback) noexcept:
    cdef uint64_t dt = ioloop_ticks() - self._st.cur_start
    if dt > self._st.longest:
        self._record_longest(callback, dt)
    self._cur_report = NULL


cdef object _reported(PyObject *report):
    # What _cur_report names, for a person: a transport event by its transport.
    if report == NULL:
        return None
    if isinstance(<object>report, StreamCore):
        return (<StreamCore>report)._face or <object>report
    return <object>report


def _timer_key(item):
    return (item[0], item[1])


def _after_fork_in_child():
    global _fork_epoch
    _fork_epoch += 1


_os.register_at_fork(after_in_child=_after_fork_in_child)


cdef inline double _monotonic() noexcept nogil:
    # Same arithmetic as CPython's time.monotonic(), so a deadline taken
    # from either clock compares exactly.
    cdef timespec ts
    cdef int64_t ns
    clock_gettime(CLOCK_MONOTONIC, &ts)
    ns = <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec
    if ns % 1000000000 == 0:
        return <double>(ns // 1000000000)
    return <double>ns / 1e9

# Included by _core.pyx: argument checks' fast paths.
#
# Owns: the inline check for the common valid case of each argument (a
# float or int delay, a callable, an int fd, an int event mask). Invariant:
# anything else goes to _common, which owns the rule and the error message
# for both engines; a fast path never raises an error of its own.

cdef inline double _to_seconds(object value, str name) except? -1.0:
    cdef double d
    if type(value) is float:
        d = <double>value
        if d == d:
            return d
    elif type(value) is int:
        try:
            return <double>value
        except OverflowError:
            pass
    # Huge ints, other reals, NaN and bad types: the shared rules and messages.
    return _common.to_seconds(value, name)


cdef inline int _check_callable(object callback, str name) except -1:
    if not PyCallable_Check(callback):
        _common.check_callable(callback, name)
    return 0


cdef inline int _plain_fd(object fd) noexcept:
    """The fast path of the two below: ``fd`` itself if it is an int in the
    fd range, else -1 (then ``_common`` decides, with its errors)."""
    cdef long n
    if type(fd) is not int:
        return -1
    try:
        n = fd
    except OverflowError:
        return -1
    return <int>n if 0 <= n <= 0x7fffffff else -1


cdef inline int _fileno(object fd) except -2:
    """The fd number of an int or fileno() object; -1 if it reports closed."""
    cdef int n = _plain_fd(fd)
    return n if n >= 0 else _common.fileno(fd)


cdef inline int _aio_fileno(object fd) except -2:
    """_fileno() for add_reader and co: asyncio's errors for bad input."""
    cdef int n = _plain_fd(fd)
    return n if n >= 0 else _common.aio_fileno(fd)


cdef inline uint32_t _event_mask(object events) except? 0xffffffff:
    cdef long long n
    if type(events) is int:
        try:
            n = events
        except OverflowError:
            n = -1
        if 0 <= n <= 0xffffffff:
            return <uint32_t>n
    return _common.event_mask(events)

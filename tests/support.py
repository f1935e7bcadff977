"""Plain helpers shared by the test modules (fixtures live in conftest.py).

Test modules import these as ``from support import ...``: this directory
holds conftest.py and no ``__init__.py``, so pytest's default (prepend)
import mode puts it on ``sys.path`` before any test module is imported,
both for ``PYTHONPATH=src python -m pytest tests`` in a checkout and for
``python -m pytest tests`` against the installed package (CI).
"""

import errno
import fcntl
import logging
import os
import time

import ioloop

# Children import the same ioloop as this process: the installed package
# (CI) or a source tree on PYTHONPATH (development).
SRC = os.path.dirname(os.path.dirname(os.path.abspath(ioloop.__file__)))


# -- running the loop -------------------------------------------------------------------


def run_for(loop, seconds):
    """Run ``loop`` for ``seconds`` (a ``call_later`` stops it)."""
    loop.call_later(seconds, loop.stop)
    loop.start()


def run_once(loop):
    """One non-blocking iteration (stop() before start(): see docs/behaviour.md
    "Running and stopping")."""
    loop.stop()
    loop.start()


def run_until(loop, predicate, timeout=5.0):
    """Run ``loop`` until ``predicate()`` is true (checked every ms); fail
    the test if it is not true within ``timeout`` seconds. Returns the
    predicate's (true) value."""
    deadline = time.monotonic() + timeout

    def check():
        if predicate() or time.monotonic() > deadline:
            loop.stop()
        else:
            loop.call_later(0.001, check)

    loop.add_callback(check)
    loop.start()
    result = predicate()
    assert result, "condition not reached in time"
    return result


def cpu_for(loop, seconds):
    """Run ``loop`` for ``seconds``; return the CPU time the process used
    meanwhile (a loop that sleeps uses almost none, one that spins uses it
    all)."""
    t0 = time.process_time()
    run_for(loop, seconds)
    return time.process_time() - t0


# -- the kernel's view -------------------------------------------------------------------


def epoll_interest(epfd):
    """{fd: events} registered in the epoll set ``epfd``, from the kernel
    (/proc/self/fdinfo)."""
    out = {}
    with open(f"/proc/self/fdinfo/{epfd}") as f:
        for line in f:
            if line.startswith("tfd:"):
                parts = line.split()
                out[int(parts[1])] = int(parts[3], 16)
    return out


def kernel_interest(loop):
    """{fd: events} from the kernel's view of the loop's epoll set."""
    return epoll_interest(loop.fileno())


def open_fds():
    """Open fds of this process, as ints (the listing's own dir fd filtered
    out)."""
    out = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            continue
        out.add(fd)
    return out


def fd_is_open(fd):
    """Whether ``fd`` is open (any error but EBADF fails the test)."""
    try:
        os.fstat(fd)
    except OSError as e:
        assert e.errno == errno.EBADF
        return False
    return True


# -- logging -----------------------------------------------------------------------------


def ioloop_records(caplog, level=logging.WARNING):
    """Records of the ``ioloop`` loggers at ``level`` or above."""
    return [r for r in caplog.records if r.name.startswith("ioloop") and r.levelno >= level]


def ioloop_warnings(caplog):
    """Records of the ``ioloop`` loggers at exactly WARNING."""
    return [r for r in ioloop_records(caplog) if r.levelno == logging.WARNING]

# Included by _core.pyx: the engine's compile-time limits and fd kinds.
#
# Owns: the kinds of an fd-table entry (FdEntry.kind), the epoll buffer's
# bounds, the poll caps and the heap-compaction threshold. Invariant: the
# twin (_engine_py.py) uses the same numbers; change both.

cdef enum:
    KIND_FREE = 0
    KIND_CLASSIC = 1
    KIND_ASYNCIO = 2
    # A StreamCore: events go straight to its _on_events().
    KIND_TRANSPORT = 3
    # Classic handlers always listen for EPOLLERR|EPOLLHUP (Tornado's ERROR).
    ERROR_MASK = 0x018
    # A fd that fired this many iterations in a row is re-checked with
    # fstat(): a dup'd fd closed without remove_handler keeps firing forever
    # (uvloop and libuv both ran into it) and must be dropped, not spun on.
    STALE_CHECK_EVERY = 64
    # epoll_wait's buffer grows up to this when it comes back full; the
    # kernel rotates level-triggered fds, so nothing starves meanwhile.
    MIN_EVENTS = 64
    MAX_EVENTS = 4096
    # Poll at least once a day even with far-away timers (asyncio's cap).
    MAX_POLL_MS = 86400000
    # Rebuild the heap when this many cancelled timers sit in it and they
    # are more than half of it (amortised O(1) cancellation, bounded memory).
    COMPACT_MIN_CANCELLED = 64

cdef double MAX_POLL_SECONDS = 86400.0
# While callbacks are ready, poll for I/O at least this often: a chain of
# callbacks costs no syscall per step (rloop does the same), and I/O waits
# at most this long for its turn.
cdef double POLL_SKIP_SECONDS = 0.00025

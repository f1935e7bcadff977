"""Benchmarks: ioloop side by side with asyncio, uvloop, rloop and Tornado.

Run ``python -m ioloop.bench`` (``--help`` for the options). Every peer that
is installed is measured on the same workloads in one run, each through its
own native API, next to a *floor*: the same work done with no loop at all.

Workloads (N: see the header of a run for the sizes used)
---------------------------------------------------------
``callbacks``   N no-op callbacks scheduled, then the loop runs them all.
``chain``       each callback schedules the next one, N times.
``timers``      N timers at a random delay in [0, 1 ms], every other one
                cancelled; the loop runs until the last live one fires.
``lateness``    how late timers fire on a busy loop: 10 socketpairs keep a
                byte bouncing each through read handlers while N timers are
                set one after the other (``call_later``, 0.1-1.1 ms); each
                timer's lateness is when its callback started minus when
                it was due. Its p50/p99/p99.9/max go to the latency table.
``threadsafe``  a second thread submits N callbacks as fast as it can
                (``add_callback`` / ``call_soon_threadsafe``); timed until
                all have run on the loop.
``pingpong``    100 socketpairs each bounce one byte through read handlers,
                N round trips in all; ns per round trip.
``idle``        one socketpair bouncing (N round trips) with no other fd
                registered, then with 10,000 idle fds registered for READ
                (both ends of 5,000 socketpairs that never fire): both
                times and their ratio.
``echo``        a raw-socket TCP echo server on 127.0.0.1 built on read
                handlers (``add_handler`` / ``add_reader``) in the measured
                process, under the echo load (below); requests per second,
                the server's CPU time per request and how busy both sides
                were.
``proto_echo``  the same load on an ``asyncio.Protocol`` echo server made by
                ``loop.create_server`` (asyncio loops only: ioloop's asyncio
                face, its pure-Python twin's, asyncio, uvloop, rloop).
``stream_echo`` the same on an ``asyncio.start_server`` streams echo
                (``reader.read``, ``writer.write``, ``await writer.drain()``).
``tornado_echo`` the same on a Tornado ``TCPServer`` whose ``IOStream``
                echoes (``read_bytes(64, partial=True)``, ``await write``),
                Tornado running on the asyncio loop under test (ioloop's
                asyncio face, asyncio, uvloop).
``memory``      bytes per pending timer: RSS growth (``/proc/self/statm``)
                while N timers (delays 1-2 h, never firing) are scheduled,
                divided by N.
``call_later``  (not run by default) N ``call_later(0, f)``, then run.

The application workloads (``--group app``, or by name; ``--group all``
runs both groups): HTTP/1.1 servers, each in a process of its own on the
loop under test (ioloop's asyncio face, asyncio, uvloop, rloop), loaded by
a C HTTP load generator in another process:

``uvicorn``          uvicorn, its httptools parser, a minimal ASGI app; the
                     loop given as uvicorn's ``--loop`` (``asyncio``,
                     ``uvloop``, ``ioloop:new_event_loop``,
                     ``rloop:new_event_loop``).
``aiohttp``          an ``aiohttp.web`` hello world; ``aiohttp_64k``: the
                     same with a 64 KiB body.
``httptools_proto``  an ``asyncio.Protocol`` parsing with httptools and
                     answering each request with one fixed response (the
                     server of uvloop's HTTP benchmark).
``tornado_http``     a Tornado ``web.Application`` on its ``HTTPServer``.

Each is measured at saturation (every connection sends its next request
when a response arrived: requests/s) in every round, then, after the
rounds, at a fixed rate: ``--app-fraction`` (0.6) of the slowest loop's
median requests/s in this run, the same offered load for every loop.
Requests are then due on a timetable whatever the responses do, and each
one's latency counts from the time it was due, so a server that stalls is
charged for every request queued behind the stall (coordinated omission
does not hide it, as in wrk2); the table gives p50, p99, p99.9 and the
maximum. Every response is checked (status 200, the body's length); a run
with a wrong one is an error, not a result. The server's CPU time and the
time it waited for a CPU held by another process are read over each
window (``/proc/PID/schedstat``): on a shared machine the latter says how
much of the latency was the machine's.

The peers: ``ioloop`` (``ioloop.IOLoop``, classic API: ``add_callback``,
``call_later``/``remove_timeout``, ``add_handler``/``update_handler``),
``ioloop-asyncio`` (the same loop through its asyncio API: ``call_soon``,
``call_soon_threadsafe``, ``add_reader``/``add_writer``), ``ioloop-py`` (the
pure-Python twin, ``IOLOOP_NO_EXTENSIONS=1``, classic API), ``asyncio``,
``uvloop`` and ``rloop`` (asyncio API) and ``tornado``
(``tornado.ioloop.IOLoop`` on asyncio, classic API as Tornado users have
it). Measured only when named (``--loops``) or with ``--overhead``:
``ioloop-watchdog``, the ``ioloop`` loop with the blocked-loop watchdog on
(``set_blocking_threshold(0.1)``; its asyncio face for the workloads on
asyncio's server APIs, and not the application workloads): its ratio to
ioloop is the watchdog's cost (``--overhead`` adds it and the rows it is
compared against). A peer that is not installed is reported as skipped, and
so is a workload that needs a library that is not (``tornado_echo`` needs
Tornado, on every loop). ``floor`` is no loop at all: the callbacks called N
times in a plain ``for`` loop (for ``timers``, the live ones; for
``threadsafe``, taken from a ``deque`` that the second thread fills); for
the fd workloads the bare syscalls (blocking ``send``/``recv``); for the
echo workloads an epoll echo server in C (compiled at start, reported as
skipped without a C compiler; measured once and shown for every echo
workload); for ``memory`` a ``heapq`` of ``(deadline, callback)`` tuples.

Which ioloop it measures
------------------------
The one ``import ioloop`` gives (the header names its directory and its
engine, and every worker must import the same). An installation whose
compiled engine did not build or load runs the pure-Python one: the bench
then refuses to measure the ``ioloop``, ``ioloop-asyncio`` and
``ioloop-watchdog`` rows, unless ``--allow-python-engine`` (or
``IOLOOP_NO_EXTENSIONS=1``) asks for that engine, and the output then says
which engine those rows ran.

The echo load
-------------
The echo workloads are timed, not counted: N is the length of one timed run
in milliseconds (1 s by default, 2 s with ``--full``). The load generator
is a separate process: a small C program (epoll, no library) compiled with
``$CC``/gcc/cc into a temporary directory when the run starts, or, without a
compiler (or with ``--echo-gen python``), the same protocol in plain Python
(``--echo-load``), which saturates its core near 80k requests/s and is then
likely the bottleneck. It opens 100 connections, makes one priming round
trip on each (the server has accepted them all), then keeps ``--echo-depth``
64-byte messages in flight on each connection (1: request/response; more:
pipelined) for N ms and counts the replies in that window; it stops
sending, waits for what is still in flight and closes. The window's start
and end are announced on its stdout, which the server process watches like
any other fd, so the server's CPU time is read over the same window. On a
2-core machine the server and the generator get one core each; the
kernel's loopback TCP work (charged to both) is most of each request's
cost, so the table notes how busy each side was.

How it measures
---------------
Each (loop, workload) measurement runs in a fresh subprocess
(``python -m ioloop.bench --worker LOOP WORKLOAD N``). With pyperf installed
(the ``bench`` extra) the worker is a ``pyperf.Runner`` in worker mode
(``bench_time_func``, ``loops=1``, ``inner_loops=N``): pyperf runs the
warm-up and the timed values and collects its metadata, and the parent
merges every worker's run into one ``pyperf.Benchmark`` per (loop,
workload), whose statistics the table shows; ``--pyperf-dir`` writes them as
pyperf JSON files (``python -m pyperf compare_to``, ``stats``, ``hist``
read them). Without pyperf the same protocol runs on a built-in harness.
Every workload is a fixed amount of work (N) or a timed run, so pyperf's
loop calibration is not used: one value is one complete run (for the
latency figures, which pyperf does not carry, a run's p99). Each run checks
its own work (every callback ran, no cancelled timer or idle fd fired,
every echo came back, every HTTP response was right). The parent repeats
every measurement R times, interleaving the loops (their order is shuffled
for every round and workload) so that drift in the machine's speed spreads
over all of them; where two loops' ranges of values overlap, the table
calls the gap a tie. Nothing here is a stored result: every number printed
was measured in this run.

The output fits in 120 columns: the echo and application servers' CPU
figures and the latency percentiles have tables of their own, and a note
too long for its row becomes a numbered footnote under its table;
``--wide`` keeps every line whole and every note on its row. ``--plot
FILE`` writes an SVG chart of the requests/s and latency figures.

The package
-----------
``cli``        the command line: options, the schedule of worker processes
               (rounds, shuffled loop order), progress on stderr.
``config``     what runs: the loops, the workloads, where each applies, what
               each needs, their sizes and constants.
``peers``      the loops' APIs as the workers call them, and the probing of
               the peers and the machine (versions, which ioloop and engine).
``harness``    the worker side of pyperf (or its built-in stand-in), the
               worker subprocesses and the collection of their results.
``worker``     one worker process: runs one (loop, workload) measurement and
               prints its JSON.
``workloads``  the loop-level workloads (callbacks ... idle, memory).
``echo``       the echo servers and the timed echo runs.
``apps``       the application servers (their own processes).
``app``        the application workloads' runs: the server process, the
               load generator, their two halves.
``loadgen``    the load generators: the C programs in ``csrc/`` (compiled at
               run time: the echo floor server, the echo and the HTTP load
               generators, their latency histogram) and the Python echo
               load generator.
``report``     the summary, the tables, their footnotes and 120-column
               layout (``--wide``), the header, and the JSON and pyperf files.
``plot``       the ``--plot`` SVG chart.
``api``        the few names the scripts in the repository's ``bench/``
               directory use.
"""

from .cli import main

__all__ = ["main"]

"""Run Tornado's own test suite with ioloop as the asyncio event loop.

    python tools/tornado_suite.py [tornado runtests args...]
    python tools/tornado_suite.py --loop asyncio      # baseline: stock asyncio

Run it with the Python where ioloop is installed (``pip install .``); the
first line it prints names the engine that ran and where ioloop came from
(``IOLOOP_NO_EXTENSIONS=1`` selects the pure-Python twin).

Installs ``ioloop.EventLoopPolicy()`` as the asyncio policy (Tornado's
``AsyncTestCase`` and ``IOLoop.current()`` get their loops from
``asyncio.new_event_loop()``/``get_event_loop()``, so every test runs on an
ioloop loop), then runs ``tornado.test.runtests`` exactly as
``python -m tornado.test.runtests`` would, with the remaining arguments.

At the end it prints one summary line::

    tornado-suite: loop=ioloop(cython) ran=1517 failures=0 errors=0 skipped=5 loops=1234 seconds=41.2

followed by one line per failed or erroring test with the last line of its
traceback. ``loops`` counts the event loops the policy created and must be
non-zero: it shows the tests really ran on ioloop. The exit status is
Tornado's (non-zero when a test failed, or when the suite logged or wrote to
stderr, which Tornado's runner treats as a failure), or 3 when no loop was
created through the policy.
"""

import asyncio
import os
import sys
import time


def _last_line(tb_text):
    lines = [ln for ln in tb_text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "?"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    loop_kind = "ioloop"
    if argv[:1] == ["--loop"] and len(argv) >= 2:
        loop_kind = argv[1]
        argv = argv[2:]
    elif argv and argv[0].startswith("--loop="):
        loop_kind = argv[0].split("=", 1)[1]
        argv = argv[1:]
    if loop_kind not in ("ioloop", "asyncio"):
        sys.exit(f"--loop must be ioloop or asyncio, not {loop_kind!r}")

    created = [0]
    if loop_kind == "ioloop":
        import ioloop

        label = f"ioloop({ioloop.implementation})"
        # Not a "tornado-suite:" line: that prefix marks the one summary line.
        sys.__stdout__.write(f"ioloop engine: {ioloop.implementation} "
                             f"(from {os.path.dirname(ioloop.__file__)})\n")
        sys.__stdout__.flush()

        class CountingPolicy(ioloop.EventLoopPolicy):
            def new_event_loop(self):
                loop = super().new_event_loop()
                if not isinstance(loop, ioloop.IOLoop):
                    raise TypeError(f"ioloop.EventLoopPolicy made {type(loop).__name__}")
                created[0] += 1
                return loop

        asyncio.set_event_loop_policy(CountingPolicy())
    else:
        label = "asyncio"

        class CountingPolicy(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self):
                created[0] += 1
                return super().new_event_loop()

        asyncio.set_event_loop_policy(CountingPolicy())

    from tornado.test import runtests

    results = []
    make_runner = runtests.test_runner_factory

    def recording_factory(stderr):
        base = make_runner(stderr)

        class RecordingRunner(base):
            def run(self, test):
                result = super().run(test)
                results.append(result)
                return result

        return RecordingRunner

    runtests.test_runner_factory = recording_factory
    sys.argv = ["tornado.test.runtests", *argv]
    # tornado.testing.main() runs unittest.main(defaultTest="all") on the
    # __main__ module, as under ``python -m tornado.test.runtests``.
    sys.modules["__main__"] = runtests
    out = sys.__stdout__
    t0 = time.monotonic()
    status = 0
    try:
        runtests.main()
    except SystemExit as e:
        status = int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        elapsed = time.monotonic() - t0
        if results:
            r = results[-1]
            out.write(f"tornado-suite: loop={label} ran={r.testsRun} failures={len(r.failures)} "
                      f"errors={len(r.errors)} skipped={len(r.skipped)} "
                      f"expected_failures={len(r.expectedFailures)} "
                      f"unexpected_successes={len(r.unexpectedSuccesses)} "
                      f"loops={created[0]} seconds={elapsed:.1f} status={status}\n")
            for kind, items in (("FAIL", r.failures), ("ERROR", r.errors)):
                for test, tb in items:
                    out.write(f"  {kind} {test.id()}: {_last_line(tb)}\n")
        else:
            out.write(f"tornado-suite: loop={label} no result (status={status}, "
                      f"seconds={elapsed:.1f})\n")
        out.flush()
    if status == 0 and created[0] == 0:
        out.write("tornado-suite: no event loop was created through the policy\n")
        status = 3
    return status


if __name__ == "__main__":
    sys.exit(main())

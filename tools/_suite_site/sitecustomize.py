"""On the path of tools/uvloop_suite.py's ioloop run only: a Python child
process started by one of uvloop's tests (a signal test's program, a
deallocation check) gets ioloop's loop from ``uvloop.new_event_loop()`` and
``uvloop.run()`` too."""

import os

if os.environ.get("IOLOOP_SUITE_SWAP_UVLOOP") == "1":
    import ioloop
    import uvloop

    from _suite_uvloop_swap import swap_uvloop_module

    swap_uvloop_module(uvloop, ioloop)

"""Replace the ``uvloop`` module's loop entry points with ioloop's, for
tools/uvloop_suite.py's ioloop run (in the pytest process, and in the Python
child processes that uvloop's tests start, through ``_suite_site``)."""


def swap_uvloop_module(uvloop, ioloop):
    uvloop.new_event_loop = ioloop.new_event_loop
    uvloop.EventLoopPolicy = ioloop.EventLoopPolicy
    uvloop.run = ioloop.run
    uvloop.install = ioloop.install

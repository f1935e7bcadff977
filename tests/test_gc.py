"""A loop dropped without close() is collected with its fds, even when a
pending callback or handler refers back to it."""

import gc
import socket
import weakref

import ioloop

from support import open_fds


def test_unclosed_loop_with_self_references_is_collected():
    gc.collect()
    before = open_fds()
    a, b = socket.socketpair()
    loop = ioloop.IOLoop()
    loop.call_later(3600, loop.stop)
    loop.add_callback(loop.stop)
    loop.add_handler(a, lambda fd, ev: loop.stop(), ioloop.IOLoop.READ)
    loop.add_reader(b, loop.stop)
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None
    a.close()
    b.close()
    gc.collect()
    assert open_fds() == before


def test_closed_loop_releases_callbacks():
    class Marker:
        pass

    loop = ioloop.IOLoop()
    m = Marker()
    ref = weakref.ref(m)
    loop.call_later(3600, lambda m=m: None)
    loop.add_callback(lambda m=m: None)
    del m
    loop.close()
    gc.collect()
    assert ref() is None

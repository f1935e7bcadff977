"""The engine's methods against typeshed's ``asyncio.AbstractEventLoop``,
which ``ioloop.IOLoop`` also derives from. tests/test_typing.py expects the
checkers to find exactly the methods listed in ``INCOMPATIBLE``: they
return ioloop's own ``Handle``/``TimerHandle``, which are not subclasses
of asyncio's. Their arguments, and every other method, are asyncio's."""

import asyncio

from ioloop._engine_py import Loop

INCOMPATIBLE = ["call_at", "call_later", "call_soon", "call_soon_threadsafe"]


class Probe(Loop, asyncio.AbstractEventLoop):
    pass

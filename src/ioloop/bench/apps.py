"""The application servers of the ``app`` workloads, each run in a process
of its own (``python -m ioloop.bench --app-server WORKLOAD LOOP``) on the
loop under test, started the way the framework documents:

``uvicorn``          uvicorn serving a minimal ASGI app with its httptools
                     parser (``http="httptools"``), the loop given as
                     uvicorn's ``loop`` setting (``--loop``): ``asyncio``,
                     ``uvloop``, or ``module:function`` (``ioloop:
                     new_event_loop``, ``rloop:new_event_loop``).
``aiohttp``          an ``aiohttp.web`` application, ``web.run_app(app,
``aiohttp_64k``      sock=..., loop=...)``: a small body, and a 64 KiB one.
``httptools_proto``  an ``asyncio.Protocol`` HTTP/1.1 server made by
                     ``loop.create_server``: httptools' ``HttpRequestParser``
                     parses, each complete request is answered (through
                     ``loop.call_soon``) with one fixed response; keep-alive.
``tornado_http``     a ``tornado.web.Application`` on ``tornado.httpserver.
                     HTTPServer``, Tornado running on the asyncio loop.

Each answers ``GET /`` with status 200 and a fixed body, always with a
Content-Length (the load generator reads nothing else), and ``GET /loop``
with a JSON description of the loop that serves it (the driver checks it
before any load). The process binds 127.0.0.1 on a free port, prints
``{"port": ...}`` and serves until its stdin closes."""


import json
import os
import socket
import sys
import threading

from .config import APP_BODY, APP_BODY_64K
from .peers import _ioloop_identity


# uvicorn's ``loop`` setting for each loop: its own names where it has one,
# else the documented ``module:function`` form of a custom loop factory.
UVICORN_LOOP = {
    "ioloop-asyncio": "ioloop:new_event_loop",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "rloop": "rloop:new_event_loop",
}


def _body(workload):
    return APP_BODY_64K if workload == "aiohttp_64k" else APP_BODY


def _new_loop(loop_name):
    if loop_name == "ioloop-asyncio":
        import ioloop
        return ioloop.new_event_loop()
    if loop_name == "asyncio":
        import asyncio
        return asyncio.new_event_loop()
    if loop_name == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    if loop_name == "rloop":
        import rloop
        return rloop.new_event_loop()
    raise ValueError(f"no application server on {loop_name!r}")


def _describe(loop_name, workload):
    """The JSON body of ``GET /loop``: the running loop, and for ioloop,
    which ioloop and engine."""
    import asyncio
    running = asyncio.get_running_loop()
    doc = {"workload": workload, "loop_name": loop_name,
           "loop_type": f"{type(running).__module__}.{type(running).__qualname__}",
           "pid": os.getpid()}
    if loop_name.startswith("ioloop"):
        doc["ioloop"] = _ioloop_identity()
    if workload == "tornado_http":
        import tornado.ioloop
        current = tornado.ioloop.IOLoop.current()
        doc["tornado_wraps_running_loop"] = getattr(current, "asyncio_loop", None) is running
    return json.dumps(doc).encode()


def _serve_uvicorn(loop_name, workload, sock):
    import uvicorn

    body = _body(workload)
    length = str(len(body)).encode()
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain"), (b"content-length", length)]}
    message = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/loop":
            info = _describe(loop_name, workload)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(info)).encode())]})
            await send({"type": "http.response.body", "body": info})
            return
        await send(start)
        await send(message)

    config = uvicorn.Config(app, loop=UVICORN_LOOP[loop_name], http="httptools",
                            lifespan="off", access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _serve_aiohttp(loop_name, workload, sock):
    from aiohttp import web

    body = _body(workload)

    async def hello(request):
        return web.Response(body=body, content_type="text/plain")

    async def describe(request):
        return web.Response(body=_describe(loop_name, workload),
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/loop", describe)
    loop = _new_loop(loop_name)
    web.run_app(app, sock=sock, loop=loop, access_log=None, print=None, handle_signals=False)


def _serve_httptools(loop_name, workload, sock):
    import asyncio

    import httptools

    body = _body(workload)
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    class HttpProtocol(asyncio.Protocol):
        """Parse with httptools; answer each complete request with the fixed
        response from a loop callback; keep the connection open."""

        __slots__ = ("loop", "transport", "parser", "url")

        def __init__(self, loop):
            self.loop = loop
            self.transport = None
            self.parser = httptools.HttpRequestParser(self)
            self.url = None

        def connection_made(self, transport):
            self.transport = transport

        def connection_lost(self, exc):
            self.transport = None

        def data_received(self, data):
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_url(self, url):
            self.url = url

        def on_message_complete(self):
            self.loop.call_soon(self.respond, self.url)

        def respond(self, url):
            if self.transport is None:
                return
            if url == b"/loop":
                info = _describe(loop_name, workload)
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: " + str(len(info)).encode()
                                     + b"\r\n\r\n" + info)
            else:
                self.transport.write(response)

    loop = _new_loop(loop_name)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(loop.create_server(lambda: HttpProtocol(loop), sock=sock,
                                               backlog=1024))
    loop.run_forever()


def _serve_tornado(loop_name, workload, sock):
    import asyncio

    import tornado.httpserver
    import tornado.web

    body = _body(workload)

    class Hello(tornado.web.RequestHandler):
        def get(self):
            self.set_header("Content-Type", "text/plain")
            self.write(body)

    class Describe(tornado.web.RequestHandler):
        def get(self):
            self.set_header("Content-Type", "application/json")
            self.write(_describe(loop_name, workload))

    async def main():
        app = tornado.web.Application([(r"/", Hello), (r"/loop", Describe)])
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        await asyncio.Event().wait()

    loop = _new_loop(loop_name)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


SERVERS = {
    "uvicorn": _serve_uvicorn,
    "aiohttp": _serve_aiohttp,
    "aiohttp_64k": _serve_aiohttp,
    "httptools_proto": _serve_httptools,
    "tornado_http": _serve_tornado,
}


def _exit_on_stdin_eof():
    """The driver closes our stdin to stop us (or dies): exit then,
    whatever the loop is doing."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def serve(workload, loop_name):
    """The server process: bind, print the port, serve until stdin closes."""
    # IPPROTO_TCP, as getaddrinfo gives it to create_server(host, port):
    # asyncio (and ioloop, which follows it) set TCP_NODELAY only on the
    # connections of a listening socket whose proto says TCP. With proto 0,
    # a server that writes a response in two parts (uvicorn: headers, then
    # body) waits for the client's delayed ACK, ~40 ms, on every request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    threading.Thread(target=_exit_on_stdin_eof, name="stdin-watch", daemon=True).start()
    sys.stdout.write(json.dumps({"port": sock.getsockname()[1], "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    SERVERS[workload](loop_name, workload, sock)
    return 0

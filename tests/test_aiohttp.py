"""An aiohttp web server and client on ioloop, side by side with stock asyncio.

A real application, not a suite written for event loops: routes that answer
small and large bodies, a streamed chunked response, a POST body read in
pieces, a WebSocket echo, many concurrent requests over a pooled keep-alive
client, and a graceful shutdown that leaves no task, no transport and no file
descriptor behind. Every check runs on ioloop and on asyncio's own loop (the
``aloop`` fixture), so a difference between them is visible as a failure of
one parameter only.
"""

import asyncio
import hashlib

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

pytestmark = pytest.mark.timeout(60)

BIG = bytes(range(256)) * 256          # 64 KiB
UPLOAD = b"0123456789abcdef" * 65536   # 1 MiB


def make_app():
    async def hello(request):
        return web.Response(text="Hello, world")

    async def big(request):
        return web.Response(body=BIG)

    async def stream(request):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(50):
            await resp.write(b"chunk %d\n" % i)
            if i % 10 == 0:
                await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    async def upload(request):
        h = hashlib.sha256()
        n = 0
        async for piece in request.content.iter_chunked(8192):
            h.update(piece)
            n += len(piece)
        return web.json_response({"size": n, "sha256": h.hexdigest()})

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await sock.send_str(msg.data.upper())
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await sock.send_bytes(msg.data[::-1])
        return sock

    app = web.Application()
    app.add_routes([
        web.get("/", hello),
        web.get("/big", big),
        web.get("/stream", stream),
        web.post("/upload", upload),
        web.get("/ws", ws),
    ])
    return app


async def serve():
    runner = web.AppRunner(make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def test_requests_of_every_shape(aloop):
    async def main():
        runner, base = await serve()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(base + "/") as r:
                    assert r.status == 200
                    assert await r.text() == "Hello, world"
                async with session.get(base + "/big") as r:
                    assert await r.read() == BIG
                async with session.get(base + "/stream") as r:
                    body = await r.read()
                assert body == b"".join(b"chunk %d\n" % i for i in range(50))
                async with session.post(base + "/upload", data=UPLOAD) as r:
                    got = await r.json()
                assert got == {"size": len(UPLOAD),
                               "sha256": hashlib.sha256(UPLOAD).hexdigest()}
                async with session.ws_connect(base + "/ws") as sock:
                    await sock.send_str("hello")
                    assert (await sock.receive_str()) == "HELLO"
                    await sock.send_bytes(b"abc")
                    assert (await sock.receive_bytes()) == b"cba"
                    await sock.close()
        finally:
            await runner.cleanup()

    aloop.run_until_complete(main())


def test_concurrent_keepalive_requests(aloop):
    # 400 requests, 40 at a time, over a pool of at most 10 connections:
    # keep-alive reuse, the server's per-request timers, and many
    # transports reading and writing in the same iterations.
    async def main():
        runner, base = await serve()
        try:
            conn = aiohttp.TCPConnector(limit=10)
            async with aiohttp.ClientSession(connector=conn) as session:
                sem = asyncio.Semaphore(40)

                async def one(i):
                    async with sem:
                        path = "/big" if i % 8 == 0 else "/"
                        async with session.get(base + path) as r:
                            assert r.status == 200
                            return len(await r.read())

                sizes = await asyncio.gather(*(one(i) for i in range(400)))
            assert sizes.count(len(BIG)) == 50
            assert sizes.count(len(b"Hello, world")) == 350
        finally:
            await runner.cleanup()

    aloop.run_until_complete(main())


def test_shutdown_with_requests_in_flight(aloop):
    # The server shuts down while clients are mid-response: every client
    # request ends (a response or a client error), nothing hangs, and the
    # loop is left with no pending task (the fixture also checks fds).
    async def main():
        gate = asyncio.Event()

        async def slow(request):
            resp = web.StreamResponse()
            await resp.prepare(request)
            await resp.write(b"first")
            gate.set()
            await asyncio.sleep(30)
            return resp

        app = make_app()
        app.router.add_get("/slow", slow)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]

        async with aiohttp.ClientSession() as session:
            async def fetch():
                async with session.get(f"http://127.0.0.1:{port}/slow") as r:
                    return await r.read()

            tasks = [asyncio.ensure_future(fetch()) for _ in range(5)]
            await asyncio.wait_for(gate.wait(), 10)
            await asyncio.wait_for(runner.cleanup(), 20)
            results = await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True), 20)
        for res in results:
            assert isinstance(res, (bytes, aiohttp.ClientError)), res
        me = asyncio.current_task()
        assert [t for t in asyncio.all_tasks() if t is not me] == []

    aloop.run_until_complete(main())

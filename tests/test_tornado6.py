"""Tornado 6 (which runs on whatever asyncio loop is current) on ioloop."""

import asyncio

import pytest

import ioloop

tornado = pytest.importorskip("tornado")
import tornado.httpclient  # noqa: E402
import tornado.ioloop  # noqa: E402
import tornado.web  # noqa: E402


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("hello " + self.get_argument("n", ""))


@pytest.mark.timeout(30)
def test_tornado_http_server_and_client_on_ioloop():
    async def main():
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ioloop.IOLoop)
        app = tornado.web.Application([(r"/", Hello)])
        server = app.listen(0, address="127.0.0.1")
        port = next(iter(server._sockets.values())).getsockname()[1]
        client = tornado.httpclient.AsyncHTTPClient()
        bodies = []
        for i in range(5):
            resp = await client.fetch(f"http://127.0.0.1:{port}/?n={i}")
            bodies.append(resp.body)
        # Tornado's IOLoop wraps the running ioloop loop.
        assert tornado.ioloop.IOLoop.current().asyncio_loop is loop
        server.stop()
        client.close()
        return bodies

    assert ioloop.run(main()) == [f"hello {i}".encode() for i in range(5)]

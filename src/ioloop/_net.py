"""Networking half of the asyncio loop: sockets, stream and datagram
transports, servers, TLS and sendfile (SPEC section 4). Mixed into
``ioloop.IOLoop``."""


class NetMixin:
    """``sock_*``, ``create_connection``/``create_server`` and their Unix
    variants, ``connect_accepted_socket``, ``create_datagram_endpoint``,
    ``sendfile``/``sock_sendfile`` and ``start_tls``."""

"""Unix-specific half of the asyncio loop: signal handlers, pipes and
subprocesses (SPEC section 4). Mixed into ``ioloop.IOLoop``."""


class UnixMixin:
    """``add_signal_handler``/``remove_signal_handler``, ``connect_read_pipe``,
    ``connect_write_pipe``, ``subprocess_exec``/``subprocess_shell``."""

"""pytest fixtures for virtual time: ``pytest_plugins = ["ioloop.testing.pytest_plugin"]``.

Opt in with that one line in a top-level ``conftest.py`` (or ``-p
ioloop.testing.pytest_plugin`` on the command line). It provides:

- ``ioloop_virtual_loop``: a new `ioloop.testing.VirtualClockIOLoop` for
  the test, closed afterwards. Drive it with ``run_sync`` or
  ``run_until_complete``.
- ``ioloop_autojump_threshold``: the threshold that loop gets, 0.0 by
  default; override the fixture (in a module or a ``conftest.py``) to
  change it, or return None for a loop that only moves with ``advance``.

For pytest-asyncio, use `ioloop.testing.new_virtual_loop` as the loop
factory (see docs/testing.md); this plugin does not change which loop
pytest-asyncio uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import VirtualClockIOLoop

__all__ = ["ioloop_autojump_threshold", "ioloop_virtual_loop"]


@pytest.fixture
def ioloop_autojump_threshold() -> float | None:
    """The ``autojump_threshold`` of ``ioloop_virtual_loop`` (default 0.0)."""
    return 0.0


@pytest.fixture
def ioloop_virtual_loop(ioloop_autojump_threshold: float | None) -> Iterator[VirtualClockIOLoop]:
    """A new `VirtualClockIOLoop`, not running and not current, closed
    after the test (with its default executor shut down)."""
    loop = VirtualClockIOLoop(ioloop_autojump_threshold)
    try:
        yield loop
    finally:
        if not loop.is_closed():
            if not loop.is_running():
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

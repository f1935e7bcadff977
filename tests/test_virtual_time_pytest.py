"""ioloop.testing in a user's pytest run: the plugin's fixture (with
``run_sync``), and pytest-asyncio's loop factory hook and event-loop-policy
fixture.

Each test writes a small project (conftest.py and a test file) into a
temporary directory and runs pytest on it in a child process, as a user
would; the child imports the same ioloop as this process and inherits the
engine choice (``IOLOOP_NO_EXTENSIONS``).
"""

import os
import subprocess
import sys
import textwrap

import pytest

from support import SRC

# VirtualClockIOLoop is an ioloop.IOLoop: on the default engine.
pytestmark = [pytest.mark.timeout(180), pytest.mark.default_engine]

TEST_HOUR = '''
import asyncio, time
import pytest
import ioloop
from ioloop.testing import VirtualClockIOLoop

{marker}
async def test_sleeps_an_hour():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClockIOLoop), type(loop)
    assert ioloop.implementation == {engine!r}
    real0, t0 = time.monotonic(), loop.time()
    await asyncio.sleep(3600)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), 30)
    assert loop.time() - t0 >= 3630
    assert time.monotonic() - real0 < 5
'''


def _run_pytest(tmp_path, files, *args):
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=60", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=150, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def _engine():
    import ioloop
    return ioloop.implementation


def test_plugin_fixture_with_run_sync(tmp_path):
    code, out = _run_pytest(tmp_path, {
        "conftest.py": 'pytest_plugins = ["ioloop.testing.pytest_plugin"]\n',
        "test_user.py": f'''
            import asyncio, time
            import pytest
            import ioloop
            from ioloop import IOLoop, PeriodicCallback
            from ioloop.testing import VirtualClockIOLoop

            def test_run_sync(ioloop_virtual_loop):
                loop = ioloop_virtual_loop
                assert isinstance(loop, VirtualClockIOLoop)
                assert ioloop.implementation == {_engine()!r}
                ticks = []

                async def main():
                    assert IOLoop.current() is loop
                    pc = PeriodicCallback(lambda: ticks.append(loop.time()), 60_000)
                    pc.start()
                    await asyncio.sleep(3600)
                    pc.stop()
                    return "done"

                real0 = time.monotonic()
                assert loop.run_sync(main, timeout=7200) == "done"
                with pytest.raises(ioloop.TimeoutError):
                    loop.run_sync(lambda: asyncio.sleep(3600), timeout=60)
                assert 59 <= len(ticks) <= 61
                assert time.monotonic() - real0 < 5

            class TestManualClock:
                # Overrides the threshold for the tests of this class.
                @pytest.fixture
                def ioloop_autojump_threshold(self):
                    return None

                def test_threshold_override(self, ioloop_virtual_loop):
                    assert ioloop_virtual_loop.autojump_threshold is None
                    fired = []
                    ioloop_virtual_loop.call_later(10, fired.append, 1)
                    ioloop_virtual_loop.advance(10)
                    ioloop_virtual_loop.run_sync(lambda: asyncio.sleep(0))
                    assert fired == [1]

            def test_loop_closed_after(ioloop_virtual_loop):
                test_loop_closed_after.loop = ioloop_virtual_loop

            def test_check_closed():
                assert test_loop_closed_after.loop.is_closed()
            ''',
    }, "-p", "no:asyncio")
    assert code == 0, out
    assert "4 passed" in out, out


def test_plugin_from_the_command_line(tmp_path):
    code, out = _run_pytest(tmp_path, {
        "test_cli.py": '''
            def test_fixture(ioloop_virtual_loop):
                assert ioloop_virtual_loop.run_sync(lambda: None) is None
            ''',
    }, "-p", "ioloop.testing.pytest_plugin", "-p", "no:asyncio")
    assert code == 0, out
    assert "1 passed" in out, out


def test_pytest_asyncio_loop_factory_hook(tmp_path):
    pytest_asyncio = pytest.importorskip("pytest_asyncio")
    import pytest_asyncio.plugin as pa_plugin
    if not hasattr(pa_plugin.PytestAsyncioSpecs, "pytest_asyncio_loop_factories"):
        pytest.skip(f"pytest-asyncio {pytest_asyncio.__version__} has no loop factory hook")
    code, out = _run_pytest(tmp_path, {
        "conftest.py": '''
            import ioloop.testing

            def pytest_asyncio_loop_factories(config, item):
                return {"virtual": ioloop.testing.new_virtual_loop}
            ''',
        "test_hook.py": TEST_HOUR.format(marker="@pytest.mark.asyncio", engine=_engine()),
    }, "-p", "asyncio")
    assert code == 0, out
    assert "1 passed" in out, out


def test_pytest_asyncio_event_loop_policy_fixture(tmp_path):
    pytest.importorskip("pytest_asyncio")
    import ioloop.testing
    if ioloop.testing.VirtualClockEventLoopPolicy is None:
        pytest.skip("this Python has no asyncio event loop policies")
    code, out = _run_pytest(tmp_path, {
        "conftest.py": '''
            import pytest
            import ioloop.testing

            @pytest.fixture(scope="session")
            def event_loop_policy():
                return ioloop.testing.VirtualClockEventLoopPolicy()
            ''',
        "test_policy.py": TEST_HOUR.format(marker="@pytest.mark.asyncio", engine=_engine()),
    }, "-p", "asyncio", "-W", "ignore::DeprecationWarning")
    assert code == 0, out
    assert "1 passed" in out, out

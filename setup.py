"""Build the ``ioloop._core`` extension; all other metadata is in pyproject.toml.

The extension is optional: when it cannot be built (not Linux, no C
compiler, no Cython) the package installs with its pure-Python twin and
``ioloop.implementation`` is ``"python"``. Set ``IOLOOP_REQUIRE_EXTENSIONS=1``
to make such a failure an error instead (CI and wheel builds do), so a test
run can never pass silently on the twin.

``IOLOOP_CYTHON_TRACE=1`` builds with line tracing (``linetrace`` directive
and ``CYTHON_TRACE_NOGIL``) for ``Cython.Coverage``; that build is slow and
is never the one to ship.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

CORE_PYX = "src/ioloop/_core.pyx"


def _env_flag(name):
    # Same reading as ioloop._loop: unset, "", 0, false, no mean off.
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


REQUIRE_EXTENSIONS = _env_flag("IOLOOP_REQUIRE_EXTENSIONS")
CYTHON_TRACE = _env_flag("IOLOOP_CYTHON_TRACE")


class BuildFailed(Exception):
    pass


def _cython_compile_error():
    try:
        from Cython.Compiler.Errors import CompileError
    except ImportError:  # no Cython: nothing of its kind can be raised
        return ()
    return (CompileError,)


class optional_build_ext(build_ext):
    """``build_ext`` that cythonizes at build time and may fail softly.

    Cythonizing here rather than at import of setup.py keeps ``sdist`` from
    generating (and shipping) ``_core.c``: the sdist carries ``_core.pyx``
    and every build compiles it afresh.
    """

    def run(self):
        try:
            super().run()
        except PlatformError as exc:  # e.g. no usable compiler at all
            self._failed(exc)

    def build_extension(self, ext):
        try:
            stamp = self._force_on_mode_change()
            self._cythonize(ext)
            super().build_extension(ext)
            stamp()
        except (CCompilerError, ExecError, PlatformError, OSError,
                ImportError) + _cython_compile_error() as exc:
            self._failed(exc)

    def _force_on_mode_change(self):
        """Rebuild everything when switching between traced and normal builds.

        Otherwise a traced ``.so`` (newer than its sources) would count as up
        to date and be installed by a later normal build. Returns the
        function that records this build's mode once it succeeded.
        """
        mode = "linetrace" if CYTHON_TRACE else "normal"
        path = os.path.join(self.build_temp, "ioloop-build-mode")
        try:
            with open(path) as f:
                previous = f.read()
        except OSError:
            previous = None
        if previous != mode:
            self.force = True

        def record():
            os.makedirs(self.build_temp, exist_ok=True)
            with open(path, "w") as f:
                f.write(mode)

        return record

    def _cythonize(self, ext):
        if not any(src.endswith(".pyx") for src in ext.sources):
            return
        from Cython.Build import cythonize

        directives = {"language_level": 3}
        build_dir = None  # _core.c beside _core.pyx (for `cython -a` users)
        if CYTHON_TRACE:
            directives["linetrace"] = True
            # Traced C goes elsewhere, so a later normal build never picks
            # it up as "up to date".
            build_dir = os.path.join(self.build_temp, "cython-trace")
        # Only the sources are taken from cythonize's copy: setuptools keeps
        # its own bookkeeping on the original Extension object.
        ext.sources = cythonize(
            [ext],
            compiler_directives=directives,
            build_dir=build_dir,
            force=self.force,
            quiet=not self.verbose,
        )[0].sources

    def _failed(self, exc):
        if REQUIRE_EXTENSIONS:
            raise BuildFailed(
                "IOLOOP_REQUIRE_EXTENSIONS=1 but the ioloop._core extension "
                f"failed to build: {exc!r}"
            ) from exc
        print(
            "*" * 72
            + "\nWARNING: the ioloop._core extension could not be built "
            f"({exc!r}).\nioloop is installed with its pure-Python engine "
            "(ioloop.implementation == 'python').\n"
            "Set IOLOOP_REQUIRE_EXTENSIONS=1 to make this an error.\n"
            + "*" * 72,
            file=sys.stderr,
        )


def _extensions():
    if not sys.platform.startswith("linux"):
        if REQUIRE_EXTENSIONS:
            raise RuntimeError(
                "IOLOOP_REQUIRE_EXTENSIONS=1 but the ioloop._core extension "
                f"is Linux-only (this is {sys.platform!r})"
            )
        return []
    macros = []
    if CYTHON_TRACE:
        macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
    return [
        Extension(
            "ioloop._core",
            [CORE_PYX],
            define_macros=macros,
            extra_compile_args=["-O2"],
        )
    ]


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": optional_build_ext},
)

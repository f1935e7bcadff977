"""Build the ``ioloop._core`` extension; all other metadata is in pyproject.toml.

The extension is optional: when it cannot be built (not Linux, no C
compiler, no Cython, a Cython error) the package installs with its
pure-Python twin and ``ioloop.implementation`` is ``"python"``. Set
``IOLOOP_REQUIRE_EXTENSIONS=1`` to make such a failure an error instead (CI
and wheel builds do), so a test run can never pass silently on the twin.

A failed build is reported three ways, because pip shows a build's output
only with ``pip install -v``:

- a warning during the build: on stderr (seen with ``pip install -v``,
  ``python -m build`` and ``python setup.py ...``) and as a Python
  ``UserWarning``, which recent pip shows without ``-v`` when it installs
  from a directory (``pip install .``);
- ``ioloop/_build_info.py``, generated into the built package, which records
  whether the extension was built and, if not, why;
- at ``import ioloop``, a ``RuntimeWarning`` naming that recorded reason
  when the package falls back to the twin (and, under
  ``IOLOOP_REQUIRE_EXTENSIONS=1``, an ``ImportError`` saying the same).

``IOLOOP_CYTHON_TRACE=1`` builds with line tracing (``linetrace`` directive
and ``CYTHON_TRACE_NOGIL``) for ``Cython.Coverage``; that build is slow and
is never the one to ship.
"""

import os
import sys
import warnings

import setuptools

# pyproject.toml uses the SPDX ``license`` string (PEP 639), which older
# setuptools rejects with an obscure validation error. pip's isolated builds
# always get a new enough one; say so plainly for direct ``setup.py`` runs.
_MIN_SETUPTOOLS = 77
if int(setuptools.__version__.split(".")[0]) < _MIN_SETUPTOOLS:
    sys.exit(
        f"ioloop needs setuptools>={_MIN_SETUPTOOLS} to build (this is "
        f"setuptools {setuptools.__version__}): run "
        f"pip install 'setuptools>={_MIN_SETUPTOOLS}' 'Cython>=3.1', "
        "or pip install '.[dev]'"
    )

from setuptools import Extension, setup  # noqa: E402
from setuptools.command.build_ext import build_ext  # noqa: E402

CORE_PYX = "src/ioloop/_core.pyx"
# Generated into the built package (never into src/): see _write_build_info.
BUILD_INFO = os.path.join("ioloop", "_build_info.py")


def _env_flag(name):
    # Same reading as ioloop._loop: unset, "", 0, false, no mean off.
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


REQUIRE_EXTENSIONS = _env_flag("IOLOOP_REQUIRE_EXTENSIONS")
CYTHON_TRACE = _env_flag("IOLOOP_CYTHON_TRACE")


class BuildFailed(Exception):
    pass


class ExtensionNotBuiltWarning(UserWarning):
    """The build went on without ``ioloop._core``.

    A ``UserWarning``: recent pip forwards those from the build backend
    (shown for ``pip install .`` of a directory; for an sdist or an index
    only with ``-v``).
    """


def _describe(exc):
    """One line naming the exception, for the warning and the record."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class optional_build_ext(build_ext):
    """``build_ext`` that cythonizes at build time and may fail softly.

    Cythonizing here rather than at import of setup.py keeps ``sdist`` from
    generating (and shipping) ``_core.c``: the sdist carries ``_core.pyx``
    and every build compiles it afresh.

    Any exception while cythonizing or compiling counts as "the extension
    could not be built" (Cython alone raises ``CompileError``,
    ``InternalError`` and ``AbortError``, which share no base class but
    ``Exception``); ``KeyboardInterrupt`` and ``SystemExit`` still stop the
    build.
    """

    _error = None

    def run(self):
        self._error = None
        try:
            super().run()
        except BuildFailed:
            raise
        except Exception as exc:  # e.g. no usable compiler at all
            self._failed(exc)
        self._write_build_info()

    def build_extension(self, ext):
        try:
            stamp = self._force_on_mode_change()
            self._cythonize(ext)
            super().build_extension(ext)
            stamp()
        except Exception as exc:
            self._failed(exc)
            # A .so left by an earlier build must not pass for this one.
            stale = self.get_ext_fullpath(ext.name)
            if os.path.exists(stale):
                os.remove(stale)

    def get_outputs(self):
        outputs = super().get_outputs()
        if not self.inplace:
            outputs.append(os.path.join(self.build_lib, BUILD_INFO))
        return outputs

    def _write_build_info(self):
        """Record in the built package whether ``_core`` was built.

        ``ioloop._loop`` reads it when ``ioloop._core`` cannot be imported,
        so the fallback (or the error under ``IOLOOP_REQUIRE_EXTENSIONS``)
        can say why. In-place builds write nothing: a source tree carries no
        record, and a failure there is on the developer's terminal.
        """
        if self.inplace:
            return
        path = os.path.join(self.build_lib, BUILD_INFO)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(
                '"""Generated by setup.py when this copy of ioloop was built."""\n'
                "\n"
                "# Why the compiled engine ioloop._core was not built, or None\n"
                "# if it was.\n"
                f"EXTENSION_ERROR = {self._error!r}\n"
            )

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
        reason = _describe(exc)
        if REQUIRE_EXTENSIONS:
            raise BuildFailed(
                "IOLOOP_REQUIRE_EXTENSIONS=1 but the ioloop._core extension "
                f"failed to build: {reason}"
            ) from exc
        self._error = reason
        warnings.warn(
            f"the ioloop._core extension could not be built ({reason}); ioloop is "
            "installed with its slower pure-Python engine",
            ExtensionNotBuiltWarning,
            stacklevel=2,
        )
        print(
            "*" * 72
            + "\nWARNING: the ioloop._core extension could not be built "
            f"({reason}).\nioloop is installed with its pure-Python engine "
            "(ioloop.implementation == 'python'), which is slower.\n"
            "Install a C compiler and the Python headers and build again, or "
            "set IOLOOP_REQUIRE_EXTENSIONS=1 to make this an error.\n"
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

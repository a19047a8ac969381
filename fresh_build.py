"""setuptools' `build` command for tdxlab, in a fresh temporary directory.

setuptools builds a wheel by copying the package into build/lib and zipping everything there, and it never
empties build/. With build/ in the repository (git-ignored), a module removed or renamed in the source stayed
in build/lib and shipped in every later wheel. pyproject.toml names this class as the `build` command
(tool.setuptools.cmdclass), so every build (`pip wheel .`, `pip install .`, `python -m build`, the tests)
copies into a new empty directory, removed when the build ends; build/ in the repository is neither read
nor written. A build base given explicitly (`--build-base`, or [build] build_base in a setup.cfg) is kept.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile

from setuptools.command.build import build


class FreshBuild(build):
    def finalize_options(self) -> None:
        if "build_base" not in self.distribution.get_option_dict("build"):
            self.build_base = tempfile.mkdtemp(prefix="tdxlab-build-")
            atexit.register(shutil.rmtree, self.build_base, ignore_errors=True)
        super().finalize_options()

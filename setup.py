"""Copy the top-level agents/, prompts/ and evals/ folders into the wheel as ``mesh_tools/_bundled/``.

They stay at the top of the repository, where people read and edit them; ``mesh-tools demo`` and
``mesh-tools eval core`` need them wherever the package is installed (see ``mesh_tools/_resources.py``).
An editable install gets no copy: it reads the folders in place, so an edit shows without reinstalling.
Everything else about the build is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED_FOLDERS = ("agents", "prompts", "evals")


class BuildPyWithBundledFolders(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "mesh_tools" / "_bundled"
        shutil.rmtree(target, ignore_errors=True)  # a folder deleted from the source must not linger
        for folder in BUNDLED_FOLDERS:
            shutil.copytree(folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))


setup(cmdclass={"build_py": BuildPyWithBundledFolders})

"""Copies the repository's `contracts/` and `python-sandbox/` into the package at build time,
so an installed passlens-training (not only an editable one) finds its prompt templates,
schemas and judge: `passlens_training/_contracts`, `passlens_training/_sandbox`."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHARED = {"_contracts": HERE.parent / "contracts", "_sandbox": HERE.parent / "python-sandbox"}


class BuildWithSharedFiles(build_py):
    def run(self):
        super().run()
        for name, source in SHARED.items():
            if not source.is_dir():
                raise SystemExit(f"build passlens-training from the repository checkout: {source} is missing")
            target = Path(self.build_lib) / "passlens_training" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "tests", "bench"))


setup(cmdclass={"build_py": BuildWithSharedFiles})

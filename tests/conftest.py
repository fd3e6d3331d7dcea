"""Shared test setup: the repository on the import path, and a fresh studio folder per test."""

import sys
from pathlib import Path

import pytest

# So a bare ``pytest`` finds the ``studio`` package without installing it. (``pythonpath =
# ["."]`` under [tool.pytest.ini_options] in pyproject.toml would do the same job.)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    """Point STUDIO_HOME at a fresh temporary folder, so no test touches the real one."""
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home

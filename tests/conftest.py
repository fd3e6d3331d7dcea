"""Shared test setup: a fresh studio folder per test."""

import pytest


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    """Point STUDIO_HOME at a fresh temporary folder, so no test touches the real one."""
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home

"""Shared test setup: a fresh studio folder per test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    """Point STUDIO_HOME at a fresh temporary folder, so no test touches the real one."""
    home = tmp_path / "studio-home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a few shared cores: torch's second thread mostly waits (30x slower seen)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

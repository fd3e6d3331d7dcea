"""Shared test setup: a fresh studio folder per test, one torch thread, and no training
process left running after its test."""

import pytest
import torch

from studio.background import TrainingProcess


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


@pytest.fixture(autouse=True)
def no_run_outlives_its_test(monkeypatch):
    """Ends every training process the test started. Runs train at ``SCHED_IDLE``, so beside a
    busy CPU a test can time out while its run waits; the run would go on without it, holding
    its model's lock."""
    started: list[TrainingProcess] = []
    start = TrainingProcess.start

    def start_and_track(job: TrainingProcess) -> TrainingProcess:
        started.append(job)
        return start(job)

    monkeypatch.setattr(TrainingProcess, "start", start_and_track)
    yield
    for job in started:
        if job.running:
            job._process.kill()
            job.wait()

"""A training run in a process of its own, watched from the app.

The Train page starts exactly the command a user would type, ``python -m studio train ...``,
with ``--events DIR``: a folder of the run's own where that process appends what the page
shows, one JSON object per line (``EVENTS``), and keeps the latest sample strip
(``preview-STEP.npy``). The page reads the new lines on each redraw; Stop is a file the process
looks for between steps. Training in the server process instead held the interpreter that every
session's reruns need: beside 20 browsing sessions a GAN made 4-19 steps in 45 s.

The writer (``RunEvents``) runs in the training process, the reader (``TrainingProcess``) in the
app. Both are here, so the format lives in one place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.cards import ModelCard
from studio.checkpoints import user_models_dir
from studio.live_preview import LivePreview
from studio.models import GenerativeModel
from studio.train import RunResult, TrainSpec
from studio.trainer import StepReport, Trainer

EVENTS = "events.jsonl"
STOP = "stop"
LOG = "log.txt"
PREVIEW_EXAMPLES = 1000  # training examples a preview may show beside the samples
FLUSH_EVERY_S = 0.1  # reports are written in bunches: a fast model makes a thousand steps/s
STOP_CHECK_S = 0.05
BACKGROUND_NICE = 10  # where SCHED_IDLE is not offered (see ``_behind_the_sessions``)
# One core is left to the server, the rest shared by the run's processes. On a busy machine a
# torch thread beyond the cores only waits at every op: 2-3 GAN steps in 10 s on two threads
# against 24-38 on one, measured at load 9 on 2 cores.
TRAINING_CORES = max(1, (os.cpu_count() or 2) - 1)


# ---------------------------------------------------------------- the training process's side


class RunEvents:
    """Writes a run's reports, notes, previews and outcome into ``folder`` for the app to read,
    and stops the run when the app asks (a ``STOP`` file appears).

    ``preview(model, examples)`` is called between steps every ``preview_every`` seconds and
    once at the end, in eval mode under inference mode, so it may read the weights; it must not
    touch the global RNG, so the run stays reproducible.
    """

    def __init__(
        self,
        folder: Path,
        preview: Callable[[GenerativeModel, torch.Tensor], LivePreview] | None = None,
        preview_every: float = 2.0,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = open(self.folder / EVENTS, "a", encoding="utf-8")  # noqa: SIM115
        self._make_preview, self._preview_every = preview, preview_every
        self._trainer: Trainer | None = None
        self._last_flush = self._last_stop_check = self._last_preview = -float("inf")
        self._preview_file: Path | None = None

    def ready(self, trainer: Trainer) -> None:
        self._trainer = trainer
        if (self.folder / STOP).exists():
            trainer.stop()

    def report(self, report: StepReport) -> None:
        self._write({"kind": "report"} | dataclasses.asdict(report))
        now = time.perf_counter()
        if now - self._last_flush >= FLUSH_EVERY_S:
            self._flush()
        if now - self._last_stop_check >= STOP_CHECK_S:
            self._last_stop_check = now
            if self._trainer is not None and (self.folder / STOP).exists():
                self._trainer.stop()
        if now - self._last_preview >= self._preview_every:
            self._publish_preview()

    def notice(self, text: str) -> None:
        self._write({"kind": "notice", "text": text})
        self._flush()

    def finished(self, result: RunResult) -> None:
        self._publish_preview()
        self._write(
            {
                "kind": "finished",
                "card": dataclasses.asdict(result.card),
                "card_path": str(result.card_path) if result.card_path else None,
                "stopped_early": result.stopped_early,
                "error": result.error,
                "save_error": result.save_error,
            }
        )
        self.close()

    def failed(self, error: str) -> None:
        self._write({"kind": "failed", "error": error})
        self.close()

    def close(self) -> None:
        self._file.close()

    def _write(self, event: dict[str, Any]) -> None:
        self._file.write(json.dumps(event) + "\n")

    def _flush(self) -> None:
        self._file.flush()
        self._last_flush = time.perf_counter()

    def _publish_preview(self) -> None:
        if self._make_preview is None or self._trainer is None:
            return
        trainer = self._trainer
        model, examples = trainer.model, trainer.data[:PREVIEW_EXAMPLES]
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                preview = self._make_preview(model, examples)
        finally:
            model.train(was_training)
        name = f"preview-{trainer.step}.npy"
        with open(self.folder / f".{name}", "wb") as file:
            np.save(file, preview.picture, allow_pickle=False)
        os.replace(self.folder / f".{name}", self.folder / name)
        self._write(
            {
                "kind": "preview",
                "step": trainer.step,
                "file": name,
                "near_duplicates": preview.near_duplicates,
            }
        )
        self._flush()
        # The one before stays until now: the app may still be reading it.
        if self._preview_file is not None and self._preview_file.name != name:
            self._preview_file.unlink(missing_ok=True)
        self._preview_file = self.folder / name
        self._last_preview = time.perf_counter()


# ---------------------------------------------------------------- the app's side


class TrainingProcess:
    """``python -m studio train`` for ``spec`` in a process of its own, at a lower priority,
    saving into ``out_dir`` (default: the studio's models folder).

    ``poll()`` returns the reports that arrived since the last call and keeps the latest
    ``preview`` (drawn at ``preview_step``), ``notices``, and at the end ``result`` or ``error``.
    ``running`` stays true until the process has ended *and* all it wrote has been read; then
    its folder is removed.
    """

    def __init__(
        self, spec: TrainSpec, *, out_dir: Path | None = None, preview_every: float = 2.0
    ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="latent-studio-run-"))
        self.command = [
            sys.executable,
            "-m",
            "studio",
            "train",
            *spec.arguments(),
            "--out",
            str(out_dir or user_models_dir()),
            "--events",
            str(self.folder),
            "--preview-every",
            f"{preview_every:g}",
            "--threads",
            str(max(1, TRAINING_CORES // spec.processes)),
        ]
        self.preview: LivePreview | None = None
        self.preview_step = 0
        self.notices: list[str] = []
        self.result: RunResult | None = None
        self.error: str | None = None
        self._reports: list[StepReport] = []
        self._offset = 0
        self._process: subprocess.Popen | None = None
        self._ended = False

    def start(self) -> TrainingProcess:
        package_root = str(Path(__file__).resolve().parents[1])
        paths = [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
        (self.folder / EVENTS).touch()
        with open(self.folder / LOG, "wb") as log:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | {"PYTHONPATH": os.pathsep.join(paths)},
            )
        _behind_the_sessions(self._process.pid)
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and not self._ended

    def stop(self) -> None:
        """Ask the run to finish after its current step and save what it has."""
        if self.running:
            (self.folder / STOP).touch()

    def wait(self, timeout: float | None = None) -> None:
        """Until the process ends (or ``timeout`` seconds), reading what it writes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running and (deadline is None or time.monotonic() < deadline):
            self.poll()
            time.sleep(0.05)
        self.poll()

    def poll(self) -> list[StepReport]:
        if self._process is None or self._ended:
            return []
        exited = self._process.poll() is not None  # asked first: then every line is in the file
        for event in self._read_events():
            self._take(event)
        if exited:
            self._end()
        fresh, self._reports = self._reports, []
        return fresh

    def _read_events(self) -> list[dict[str, Any]]:
        """The complete lines written since the last read (a line still being written waits)."""
        with open(self.folder / EVENTS, "rb") as file:
            file.seek(self._offset)
            chunk = file.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        return [json.loads(line) for line in complete.splitlines()]

    def _take(self, event: dict[str, Any]) -> None:
        kind = event.pop("kind")
        if kind == "report":
            self._reports.append(StepReport(**event))
        elif kind == "notice":
            self.notices.append(event["text"])
        elif kind == "preview":
            with contextlib.suppress(FileNotFoundError):  # a newer one replaced it: next time
                picture = np.load(self.folder / event["file"], allow_pickle=False)
                self.preview = LivePreview(picture, event["near_duplicates"])
                self.preview_step = event["step"]
        elif kind == "finished":
            card = ModelCard.from_data(event["card"], "the training process's card")
            path = Path(event["card_path"]) if event["card_path"] else None
            self.result = RunResult(
                card, path, [], event["stopped_early"], event["error"], event["save_error"]
            )
            self.error = event["error"]
        elif kind == "failed":
            self.error = event["error"]

    def _end(self) -> None:
        self._ended = True
        if self.result is None and self.error is None:
            self.error = (
                f"the training process ended unexpectedly (exit status "
                f"{self._process.returncode}): {_last_line(self.folder / LOG)}"
            )
        shutil.rmtree(self.folder, ignore_errors=True)


def _last_line(log: Path) -> str:
    """The process's last words (its one-line ``error: ...`` when it refused the run)."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1].removeprefix("error: ") if lines else "no output"


def _behind_the_sessions(pid: int) -> None:
    """The server and its sessions win the CPU from a run training beside them. On Linux the
    run gets only the time no one else wants (``SCHED_IDLE``): one session moving a slider
    during a run answered in p50 62-65 ms against 86-94 ms at nice 10 (51-57 ms with no run),
    and beside a class of 10 the run kept the same pace (1.1 against 1.3 steps/s). Elsewhere,
    nice 10."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, pid, BACKGROUND_NICE)

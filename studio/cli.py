"""``python -m studio``: train, render, sample, list models and their directions from the shell.

Every mistake a user can make ends in one line on stderr and exit status 2, never a traceback.
A command imports what only it needs when it runs: ``list`` and ``--help`` do not load the
trainer, the renderer, the zoo's measurements or the benchmarks.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import numpy as np
import torch
from tqdm import tqdm  # torch imports it already: free here

from studio.checkpoints import list_cards, load_checkpoint
from studio.data import DATASETS
from studio.device import DEVICE_CHOICES
from studio.errors import StudioError
from studio.jsonio import load_json
from studio.latent import EASINGS, MAX_WALK_FRAMES
from studio.models import families, list_models
from studio.models.base import MAX_SEED
from studio.paths import atomic_write_bytes
from studio.recipe import MAX_SIZE
from studio.walks import MAX_FPS

if TYPE_CHECKING:
    from studio.background import RunEvents
    from studio.train import TrainSpec
    from studio.trainer import StepReport, Trainer

# Every number the shell gives has a range: a seed past 2**53 overflowed torch's generator,
# --n 10**9 asked for 64 GB and --batch-size 10**9 for 2.4 GB in one step.
MAX_OPTION_BYTES = 1 << 16  # one --set or --data-option value
MAX_STEPS = 10_000_000
DEFAULT_STEPS = 500  # train without --steps or --seconds
MAX_SECONDS = 7 * 24 * 3600.0  # a week
MAX_BATCH_SIZE = 1024  # twice the Train page's largest
MAX_SAMPLES = 1024  # sample --n, drawn in one forward: as many as one render batch holds
MAX_REACH = 10.0  # walk --reach, in standard deviations of the prior
MAX_STEEPEN = 100.0  # train --steepen: past that a sigmoid is a step
MAX_PROCESSES = 64  # train --processes: one per GPU or core of one machine
TEACH_SIZE = 64  # px: the size a teach pick is drawn at (its z is what counts)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise StudioError(f"{self.prog}: {message}")


def _key_value(text: str) -> tuple[str, Any]:
    """``key=value`` with value read as JSON when it parses (numbers, true/false), else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got '{text}'")
    try:
        return key, load_json(raw, what=key, max_bytes=MAX_OPTION_BYTES)
    except StudioError:
        return key, raw


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argument type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be at least {low} and at most {high:,}, got {text}"
            )
        return value

    return parse


def _positive_number(high: float) -> Callable[[str], float]:
    """An argument type: a number more than 0 and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"must be more than 0 and at most {high:,g}")
        return value

    return parse


def _move(text: str) -> tuple[str, float]:
    """``NAME=AMOUNT``: a direction's name and a finite number of units to move along it."""
    name, sep, raw = text.rpartition("=")
    try:
        amount = float(raw)
    except ValueError:
        amount = float("nan")
    if not sep or not name or not np.isfinite(amount):
        raise argparse.ArgumentTypeError(f"expected NAME=AMOUNT, e.g. size=1.5, got '{text}'")
    return name, amount


def _slider(text: str) -> int | str:
    """``--along``: a slider's number among the model's own (0 = the first), or any direction's
    name (``directions`` lists them)."""
    return _whole_number(0, 255)(text) if text.isascii() and text.isdigit() else text


_seed = _whole_number(0, MAX_SEED)
_seconds = _positive_number(MAX_SECONDS)


# ---------------------------------------------------------------- train


class _LogLines(tqdm):
    """tqdm for a file or a pipe: each refresh a line of its own. tqdm itself redraws one line
    with carriage returns, which a log keeps as one endless line."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # close() wiping the bar: a log has nothing to wipe
            return False
        self.fp.write(f"{self if msg is None else msg}\n")
        self.fp.flush()
        return True


class TrainingProgress:
    """The run on stderr through tqdm: bar, rate, ETA and every loss term. On a terminal one
    line that redraws itself, cut to the window's width rather than wrapped (a wrapped line
    cannot redraw itself); written to a file or a pipe, a plain line every ``LOG_EVERY_S``
    seconds and a last one."""

    LOG_EVERY_S = 10.0

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: tqdm | None = None
        self.first_step = 0
        self.steps: int | None = None

    def start(self, trainer: Trainer) -> None:
        """Note where the run starts (past step 0 when resuming) and its budget in steps."""
        self.first_step, self.steps = trainer.step, trainer.steps

    def __call__(self, report: StepReport) -> None:
        if self.steps:
            total = self.first_step + self.steps
        else:  # a time budget: the last step is the one this run's pace reaches by then
            total = self.first_step + round((report.step - self.first_step) / report.progress)
        terms = ", ".join(f"{key}={tqdm.format_num(value)}" for key, value in report.terms.items())
        if self.bar is None:  # opened at the first report, so that its first line has figures
            self.bar = self._open(report.step, total, terms)
            return
        self.bar.total = total
        self.bar.set_postfix_str(terms, refresh=False)
        self.bar.update(report.step - self.bar.n)

    def _open(self, step: int, total: int, terms: str) -> tqdm:
        shared = {"initial": step, "total": total, "postfix": terms, "file": self.stream}
        if self.stream.isatty():
            return tqdm(**shared, dynamic_ncols=True)
        # ncols=0: the figures without the bar, never cut to a width.
        return _LogLines(**shared, ncols=0, mininterval=self.LOG_EVERY_S, leave=False)

    def write(self, line: str) -> None:
        """A line of its own on the stream, above the bar rather than through it."""
        if self.bar is None:
            print(line, file=self.stream)
        else:
            self.bar.write(line, file=self.stream)

    def close(self) -> None:
        """Draw the last state once more (a log's last line) and close the bar; a next run
        opens one of its own."""
        if self.bar is not None:
            self.bar.refresh()
            self.bar.close()
            self.bar = None


def cmd_train(args: argparse.Namespace) -> int:
    """Train on this process, or on ``--processes N`` started through torch.distributed's
    launcher, which run this same command line and find their place (``Rank``) in the
    environment, as under torchrun. Only rank 0 shows progress, writes events and saves."""
    from studio.distributed import Rank, launch
    from studio.train import run_training

    rank = Rank.from_environment()
    if args.processes > 1 and "WORLD_SIZE" not in os.environ:
        return launch(args.processes, ["-m", "studio", *args.argv])
    if args.processes > 1 and args.processes != rank.world_size:
        raise StudioError(
            f"--processes {args.processes}, but torchrun started {rank.world_size} processes"
        )
    spec = _train_spec(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    progress = TrainingProgress(sys.stderr)
    events = _run_events(args, spec) if args.events and rank.writes else None

    def ready(trainer: Trainer) -> None:
        watch(trainer)
        if rank.writes:
            progress.start(trainer)
        if events:
            events.ready(trainer)

    def report(step: StepReport) -> None:
        progress(step)
        if events:
            events.report(step)

    def notice(text: str) -> None:
        progress.write(f"note: {text}")
        if events:
            events.notice(text)

    try:
        # On several processes the launcher passes Ctrl-C on as SIGTERM: a Stop there too.
        stops = (signal.SIGINT, signal.SIGTERM) if rank.world_size > 1 else (signal.SIGINT,)
        with stop_on_interrupt(progress.write, stops) as watch:
            result = run_training(
                spec,
                out_dir=args.out,
                on_report=report if rank.writes else None,
                trainer_ready=ready,
                resume=args.resume,
                overwrite=args.overwrite,
                on_notice=notice if rank.writes else None,
                rank=rank,
            )
    except OSError as err:  # the data or the studio folder could not be read or written
        where = f" ({err.filename})" if err.filename else ""
        error = StudioError(f"{err.strerror or err}{where}")
        if events:
            events.failed(str(error))
        raise error from None
    except StudioError as err:
        if events:
            events.failed(str(err))
        if not rank.writes:  # the same line from every process would look like one repeated
            raise StudioError(f"rank {rank.rank}: {err}") from None
        raise
    finally:
        progress.close()
    if events:
        events.finished(result)
    if not rank.writes:
        return 2 if result.error else 0
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    if result.save_error:
        print(f"error: {result.save_error}", file=sys.stderr)
        return 2
    print(
        f"saved {result.card.id} ({result.card.steps} steps, {result.card.wall_time_s:.1f} s) "
        f"to {result.card_path}"
    )
    return 2 if result.error else 0


def _train_spec(args: argparse.Namespace) -> TrainSpec:
    """The run the command line asks for. With ``--resume``, the resumed model's recorded
    recipe stands in for what the line leaves out; without, ``--model`` and ``--dataset``."""
    from studio.checkpoints import find_card, read_card
    from studio.train import TrainSpec, resumed_spec

    given = {
        "family": args.model,
        "dataset": args.dataset,
        "arch": args.arch,
        "data_path": args.data,
        "steps": args.steps if args.steps or args.seconds else DEFAULT_STEPS,
        "seconds": args.seconds,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "device": args.device,
        "id": args.id,
        "steepen": args.steepen,
    }
    given = {k: v for k, v in given.items() if v is not None} | {
        "data_options": dict(args.data_option),
        "model_config": dict(args.set),
    }
    if args.resume:
        return resumed_spec(read_card(find_card(args.resume)), given)
    if args.model is None or args.dataset is None:
        raise StudioError("train: give --model and --dataset, or --resume a model to continue it")
    return TrainSpec(**given)


def _run_events(args: argparse.Namespace, spec: TrainSpec) -> RunEvents:
    """The app's view of this run (``--events``): reports, notes, sample strips, the outcome."""
    from studio.background import RunEvents
    from studio.live_preview import LivePreviewer

    try:
        return RunEvents(args.events, LivePreviewer(spec), preview_every=args.preview_every)
    except OSError as err:
        raise StudioError(f"--events {args.events}: {err.strerror or err}") from None


@contextmanager
def stop_on_interrupt(
    say: Callable[[str], None], signals: tuple[signal.Signals, ...] = (signal.SIGINT,)
) -> Iterator[Callable[[Trainer], None]]:
    """While inside, the first Ctrl-C (SIGINT, or another of ``signals``) stops the trainer
    handed to the yielded function after its step, and the run is saved like a finished one; a
    second one, or one before training starts, interrupts at once. Outside the main thread
    nothing changes."""
    watched: list[Trainer] = []

    def interrupted(signum: int, frame: Any) -> None:
        if not watched or watched[0].stopped:
            raise KeyboardInterrupt
        watched[0].stop()
        say("stopping after this step and saving; press Ctrl-C again to abandon the run")

    if threading.current_thread() is not threading.main_thread():
        yield watched.append
        return
    previous = {signum: signal.signal(signum, interrupted) for signum in signals}
    try:
        yield watched.append
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# ---------------------------------------------------------------- render and sample


def cmd_render(args: argparse.Namespace) -> int:
    """Through the Renderer, so the PNG's recipe reproduces its pixels exactly (z rounded)."""
    from studio.recipe import to_png
    from studio.render.renderer import Renderer

    renderer = Renderer(cache_mb=0)
    loaded = renderer.load(args.model)
    z, options = loaded.model.picture_codes(args.seed).cpu().numpy(), {"seed": args.seed}
    if args.told:
        from studio.latent import telling

        z = telling(loaded, z, args.told)
    if args.move:  # the recipe keeps the moved z, so it reproduces the moved picture
        from studio.directions import model_directions

        z = model_directions(loaded).moved(z, args.move)
    recipe = renderer.recipe(args.model, z, args.size, options)
    image = renderer.render(args.model, z, args.size, options)
    atomic_write_bytes(args.out, to_png(image, recipe))
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return 0


def cmd_directions(args: argparse.Namespace) -> int:
    from studio.directions import model_directions
    from studio.directions.taught import delete_taught
    from studio.render.renderer import Renderer

    loaded = Renderer(cache_mb=0).load(args.model)
    if args.delete:
        delete_taught(loaded, args.delete)
        print(f"deleted the taught direction '{args.delete}' of {loaded.card.id}")
        return 0
    found = model_directions(loaded)
    for problem in found.problems:
        print(f"note: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([_direction_json(d) for d in found.directions], indent=2))
        return 0
    print(f"{'name':<12} {'kind':<10} {'rho':>5} {'others':>16}  {'':<6} how it was found")
    for d in found.directions:
        clean = d.cleanliness
        figures = (
            f"{clean.rho:>5.2f} {f'{clean.crosstalk:.0%} ({clean.worst})':>16}  "
            f"{'clean' if clean.clean else 'MISSES':<6}"
            if clean
            else f"{'':>5} {'':>16}  {'':<6}"
        )
        print(f"{d.name:<12} {d.kind:<10} {figures} {d.found}")
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    """Fit a direction to pictures marked more and less (seeds, or PNGs made here: the
    Gallery's), measure it where the data has a judge, and keep it under its name."""
    from studio.directions.taught import check_teachable, keep_taught, teach
    from studio.render.renderer import Renderer
    from studio.walks import keyframe_recipes

    renderer = Renderer(cache_mb=0)
    loaded = renderer.load(args.model)
    check_teachable(loaded)
    more = keyframe_recipes(renderer, loaded, args.more, TEACH_SIZE)
    less = keyframe_recipes(renderer, loaded, args.less, TEACH_SIZE)
    direction = teach(loaded, args.name, more, less)
    keep_taught(loaded, direction)
    print(f"kept '{direction.name}' for {loaded.card.id}: {direction.help()}")
    return 0


def _direction_json(direction: Any) -> dict[str, Any]:
    clean = direction.cleanliness
    return {
        "name": direction.name,
        "kind": direction.kind,
        "group": direction.group,
        "found": direction.found,
        "measured": clean and {**clean.__dict__, "clean": clean.clean},
        "vector": [round(float(x), 6) for x in direction.vector],
    }


def cmd_sample(args: argparse.Namespace) -> int:
    model, _ = load_checkpoint(args.model)
    with torch.inference_mode():
        z = model.codes(args.n, args.seed)
        samples = model.samples(z)
    buffer = io.BytesIO()
    np.save(buffer, samples, allow_pickle=False)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"wrote {args.out} {samples.dtype} {samples.shape}")
    return 0


# ---------------------------------------------------------------- walk


def _keyframe(text: str) -> int | Path:
    """``seed:N``, or the path of a PNG, GIF or WebP made here."""
    if not text.startswith("seed:"):
        return Path(text)
    try:
        return _seed(text.removeprefix("seed:"))
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{text}: {err}") from None


def _segment_frames(text: str) -> list[int]:
    """``8,16,8``: frames per segment, each from 1 to ``MAX_WALK_FRAMES``."""
    count = _whole_number(1, MAX_WALK_FRAMES)
    return [count(part.strip()) for part in text.split(",")]


def cmd_walk(args: argparse.Namespace) -> int:
    """Keyframes (seeds, recipe PNGs, earlier walks) to an animation carrying their recipes; or,
    with ``--along``, one keyframe swept along a slider and back."""
    from studio.directions import direction_axes, model_directions
    from studio.latent import slider_axes
    from studio.render.renderer import Renderer
    from studio.walks import (
        Walk,
        animation_bytes,
        animation_format,
        keyframe_recipes,
        render_walk,
        sweep_keyframes,
    )

    animation_format(args.out)  # an unknown suffix is refused before any work
    renderer = Renderer(cache_mb=0)
    loaded = renderer.load(args.model)
    keyframes = keyframe_recipes(renderer, loaded, args.keyframe, args.size)
    loop, mode = args.loop, args.mode or "slerp"
    if args.along is not None:
        if len(keyframes) != 1 or args.loop or args.mode:
            raise StudioError(
                "--along sweeps one keyframe along a slider and back on a straight line: "
                "give one --keyframe, and no --loop or --mode"
            )
        if isinstance(args.along, int):
            axes, index = slider_axes(loaded), args.along
        else:
            axes, index = direction_axes([model_directions(loaded).named(args.along)]), 0
        keyframes = sweep_keyframes(keyframes[0], axes, index, args.reach)
        loop, mode = True, "lerp"
        print(f"along {axes.labels[index]}, -{args.reach:g} to +{args.reach:g}")
    frames = args.segment_frames or args.frames
    walk = Walk(keyframes, frames, loop=loop, mode=mode, easing=args.easing, fps=args.fps)
    images = render_walk(renderer, loaded, walk)
    atomic_write_bytes(args.out, animation_bytes(images, walk, args.out))
    print(
        f"wrote {args.out} ({walk.frame_count} frames of {images.shape[2]}x{images.shape[1]}, "
        f"{len(keyframes)} keyframes)"
    )
    return 0


# ---------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    cards = list_cards()
    if args.json:
        print(json.dumps([{**card.__dict__, "path": str(path)} for card, path in cards], indent=2))
        return 0
    if not cards:
        print("no models yet: train one with `python -m studio train --model vae --dataset glyphs`")
        return 0
    print(f"{'id':<28} {'model':<9} {'data':<8} {'steps':>6}  where")
    for card, path in cards:
        print(
            f"{card.id:<28} {card.arch:<9} {card.dataset.get('name', ''):<8} {card.steps:>6}  "
            f"{path.parent}"
        )
    return 0


# ---------------------------------------------------------------- parser


def _imported_when_run(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The handler ``module.name``, imported only when its command runs."""

    def handler(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), name)(args)

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m studio", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model and save its checkpoint")
    train.add_argument(
        "--model", choices=list(families()), help="the family (with --resume: the model's)"
    )
    train.add_argument(
        "--dataset", choices=DATASETS, help="the data (with --resume: what the model trained on)"
    )
    train.add_argument(
        "--arch",
        choices=list_models(),
        help="which of the family's networks (default: its first for the dataset; "
        "gan-coord and vae-coord draw at any size)",
    )
    train.add_argument("--data", help="a folder or .zip of images (folder) or one image (image)")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=_whole_number(1, MAX_STEPS))
    budget.add_argument("--seconds", type=_seconds)
    train.add_argument("--seed", type=_seed, help="default: 0, or the resumed run's")
    train.add_argument(
        "--batch-size",
        type=_whole_number(1, MAX_BATCH_SIZE),
        help="default: 64, or the resumed run's",
    )
    train.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    train.add_argument(
        "--threads",
        type=_whole_number(1, 1024),
        metavar="N",
        help="torch threads on the CPU (default: torch's choice, one per core)",
    )
    train.add_argument(
        "--processes",
        type=_whole_number(1, MAX_PROCESSES),
        default=1,
        help="train on N processes of this machine (one GPU each, or CPU cores), as torchrun "
        "--nproc_per_node N starts them",
    )
    train.add_argument(
        "--set",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model config option, e.g. --set latent_dim=2",
    )
    train.add_argument(
        "--data-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dataset option, e.g. --data-option n=2000",
    )
    train.add_argument("--id", help="the model's name (default: family-dataset-time)")
    train.add_argument(
        "--overwrite", action="store_true", help="replace the model already called --id"
    )
    train.add_argument("--out", type=Path, help="folder for the checkpoint (default: studio home)")
    train.add_argument(
        "--resume",
        metavar="ID_OR_PATH",
        help="continue a model's run from its checkpoint: its recipe, less what options change",
    )
    train.add_argument(
        "--steepen",
        type=_positive_number(MAX_STEEPEN),
        metavar="FACTOR",
        help="a coordinate model's edges FACTOR times narrower at every size, before the run "
        "(with --resume: its colours are then relearnt, and the edges stay narrow)",
    )
    train.add_argument(
        "--events",
        type=Path,
        metavar="FOLDER",
        help="also write the run's progress, notes and sample strips there, for a watching app",
    )
    train.add_argument(
        "--preview-every",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="with --events: how often to draw the sample strip (default: 2)",
    )
    train.set_defaults(handler=cmd_train)

    render = commands.add_parser("render", help="render one image to a PNG with its recipe")
    render.add_argument("--model", required=True, metavar="ID_OR_PATH")
    render.add_argument("--seed", type=_seed, default=0)
    render.add_argument("--size", type=_whole_number(8, MAX_SIZE))
    render.add_argument("--out", type=Path, required=True)
    render.add_argument(
        "--move",
        type=_move,
        action="append",
        default=[],
        metavar="NAME=AMOUNT",
        help="move the seed's picture along a named direction (`directions` lists them)",
    )
    render.add_argument(
        "--class",
        dest="told",
        metavar="NAME",
        help="the class a conditional model draws (a kind of shape, a character)",
    )
    render.set_defaults(handler=cmd_render)

    directions = commands.add_parser(
        "directions", help="a model's directions: principal and named, each as it was found"
    )
    directions.add_argument("--model", required=True, metavar="ID_OR_PATH")
    directions.add_argument("--json", action="store_true")
    directions.add_argument("--delete", metavar="NAME", help="delete a direction you taught")
    directions.set_defaults(handler=cmd_directions)

    teach = commands.add_parser(
        "teach", help="teach a named direction from pictures marked more and less of it"
    )
    teach.add_argument("--model", required=True, metavar="ID_OR_PATH")
    teach.add_argument("--name", required=True, help="a short word: --move NAME=AMOUNT takes it")
    for side in ("more", "less"):
        teach.add_argument(
            f"--{side}",
            type=_keyframe,
            action="append",
            default=[],
            metavar="SEED_OR_PNG",
            help=f"seed:N or a PNG made here that shows {side} of it; repeat (3 at least)",
        )
    teach.set_defaults(handler=cmd_teach)

    sample = commands.add_parser("sample", help="save N raw samples as a .npy array")
    sample.add_argument("--model", required=True, metavar="ID_OR_PATH")
    sample.add_argument("--n", type=_whole_number(1, MAX_SAMPLES), default=64)
    sample.add_argument("--seed", type=_seed, default=0)
    sample.add_argument("--out", type=Path, required=True)
    sample.set_defaults(handler=cmd_sample)

    walk = commands.add_parser(
        "walk", help="an animated GIF or WebP through keyframes, their recipes inside it"
    )
    walk.add_argument("--model", required=True, metavar="ID_OR_PATH")
    walk.add_argument(
        "--keyframe",
        type=_keyframe,
        action="append",
        required=True,
        metavar="seed:N|FILE",
        help="a seed, a recipe PNG or a walk made here (its keyframes); repeat, in order",
    )
    frames = walk.add_mutually_exclusive_group()
    frames.add_argument(
        "--frames",
        type=_whole_number(2, MAX_WALK_FRAMES),
        default=48,
        help="frames in all, shared evenly between the keyframes (default: 48)",
    )
    frames.add_argument(
        "--segment-frames",
        type=_segment_frames,
        metavar="N,N,...",
        help="frames from each keyframe to the next (with --loop, the last back to the first)",
    )
    walk.add_argument("--loop", action="store_true", help="walk back to the first keyframe")
    walk.add_argument("--mode", choices=("slerp", "lerp"), help="the path (default: slerp)")
    walk.add_argument("--easing", choices=list(EASINGS), default="linear")
    walk.add_argument("--fps", type=_whole_number(1, MAX_FPS), default=12)
    walk.add_argument("--size", type=_whole_number(8, MAX_SIZE), default=128)
    walk.add_argument(
        "--along",
        type=_slider,
        metavar="SLIDER",
        help="sweep the one keyframe along this slider there and back: its number among the "
        "model's own (0 = the first) or any direction's name (size, a taught one…)",
    )
    walk.add_argument(
        "--reach",
        type=_positive_number(MAX_REACH),
        default=2.0,
        help="with --along: how far, in standard deviations (default: 2)",
    )
    walk.add_argument("--out", type=Path, required=True, help="a .gif or .webp")
    walk.set_defaults(handler=cmd_walk)

    listing = commands.add_parser("list", help="the pretrained models and your own")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)

    zoo = commands.add_parser("zoo", help="rebuild or verify the pretrained models")
    actions = zoo.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild", help="retrain a model from its recipe (default: all), measure it, draw its sheet"
    )
    rebuild.add_argument("id", nargs="?", help="a zoo id or classifier-<name>")
    how = rebuild.add_mutually_exclusive_group()
    how.add_argument(
        "--measure-only",
        action="store_true",
        help="keep the weights; redo only the metrics and the sheet",
    )
    how.add_argument(
        "--continue",
        dest="continued",
        action="store_true",
        help="train only the steps that the shorter run of the recipe already there lacks",
    )
    rebuild.set_defaults(handler=_imported_when_run("studio.zoo", "cmd_rebuild"))
    verify = actions.add_parser(
        "verify", help="check sha256, render, recompute the metrics and the quality bars"
    )
    verify.add_argument("ids", nargs="*", metavar="ID", help="default: all")
    verify.set_defaults(handler=_imported_when_run("studio.zoo", "cmd_verify"))

    bench = commands.add_parser(
        "bench", help="time renders: cache miss and hit, batches, the naive way, a bare forward"
    )
    bench.add_argument("--json", action="store_true", help="print the rows as JSON")
    bench.add_argument("--models", nargs="+", metavar="ID_OR_PATH", help="default: pretrained/")
    bench.add_argument("--threads", nargs="+", type=int, metavar="N", help="torch threads to try")
    bench.add_argument("--repeat", type=int, default=50, help="timed calls per case")
    bench.add_argument("--budget", type=float, default=3.0, help="seconds per case, at most")
    bench.add_argument("--quick", action="store_true", help="skip the 4096 px CPPN cases")
    bench.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    bench.add_argument(
        "--train", action="store_true", help="training steps/s: the Trainer against a bare loop"
    )
    bench.add_argument(
        "--processes",
        nargs="+",
        type=_whole_number(1, MAX_PROCESSES),
        metavar="N",
        help="with --train: steps/s and images/s on N processes sharing the cores, for each N",
    )
    bench.set_defaults(handler=_imported_when_run("studio.bench.render", "cmd_bench"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # what --processes starts again
        return args.handler(args)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

"""The ring-health bench: its CLI setup is the CLI's run, and its report has a row per probe."""

from __future__ import annotations

from studio.bench import ring as ring_health
from studio.checkpoints import load_checkpoint
from studio.train import TrainSpec, run_training


def test_the_cli_setup_is_the_run_the_cli_trains(tmp_path):
    """Judged at step 30, the bench's run and ``python -m studio train --model gan --dataset
    toy2d --steps 30 --seed 1`` read the same, sample for sample."""
    bench = ring_health.cli_run(1, [30], [])
    result = run_training(
        TrainSpec(family="gan", dataset="toy2d", steps=30, seed=1), out_dir=tmp_path
    )
    model, _ = load_checkpoint(result.card_path)
    cli = ring_health.judge(model)
    reading = bench.at_step[30]
    assert (reading.step, reading.modes, reading.on_mode_share) == (
        30,
        cli["modes_covered"],
        cli["on_mode_share"],
    )


def test_the_report_has_a_row_per_probe_with_a_column_per_seed():
    steps, seconds = [5, 10], [0.1]
    runs = [ring_health.classroom_run(seed, steps, seconds) for seed in (0, 1)]
    table = ring_health.report("classroom", runs, steps, seconds)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    labels = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert labels[1:] == [
        "step 5",
        "step 10",
        "0.1 s",
        "8/8 held, last third",
        "8/8 on screen (live G), last third",
        "8/8 on screen (averaged G), last third",
    ]
    assert all(len(row.split(" | ")[1].split()) == 2 for row in rows[1:])  # one per seed

"""pyproject.toml and the requirements files name the same dependencies, so neither drifts."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def requirements(path: Path) -> tuple[list[str], list[str]]:
    """The requirement lines of a pip requirements file (comments dropped), and its ``-r``s."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    included = [line.removeprefix("-r").strip() for line in lines if line.startswith("-r")]
    return [line for line in lines if line and not line.startswith("-r")], included


def test_requirements_files_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, included = requirements(ROOT / "requirements.txt")
    test_tools, _ = requirements(ROOT / "tests" / "requirements.txt")
    assert runtime == project["dependencies"]
    assert test_tools == project["optional-dependencies"]["test"]
    # `pip install -r requirements.txt` alone must bring what `python -m pytest` needs.
    assert included == ["tests/requirements.txt"]
    assert "torch==2.13.0" in (ROOT / "requirements.txt").read_text().splitlines()

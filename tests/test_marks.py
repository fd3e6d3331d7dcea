"""The marks a person makes while teaching a slider, kept in the studio folder as they are made."""

from __future__ import annotations

import dataclasses
import json
import threading
from types import SimpleNamespace

import pytest

from studio.directions.marks import MARKS, MAX_MARKS, Marks
from studio.errors import StudioError
from studio.paths import held


@pytest.fixture
def loaded():
    """All the marks need of a model: its id and its weights' hash."""
    return SimpleNamespace(card=SimpleNamespace(id="gan-shapes"), sha256="ab" * 32)


def test_marks_are_kept_as_they_are_made_and_read_back(loaded):
    assert MARKS.read(loaded) == (Marks(), ())
    MARKS.change(loaded, lambda m: m.marked("more", seed=3))
    MARKS.change(loaded, lambda m: m.marked("less", seed=40))
    MARKS.change(loaded, lambda m: m.marked("more", picture="fav-1"))
    MARKS.change(loaded, lambda m: dataclasses.replace(m, first=36, name="big"))
    marks, problems = MARKS.read(loaded)
    assert problems == ()
    assert marks == Marks({3: "more", 40: "less"}, {"fav-1": "more"}, first=36, name="big")
    MARKS.change(loaded, lambda m: m.marked("less", seed=3).marked(None, picture="fav-1"))
    assert MARKS.read(loaded)[0].seeds == {3: "less", 40: "less"}
    assert MARKS.read(loaded)[0].pictures == {}


def test_two_tabs_marking_one_model_add_to_the_same_marks(loaded):
    first_tab, second_tab = MARKS.read(loaded)[0], MARKS.read(loaded)[0]
    assert first_tab == second_tab == Marks()
    MARKS.change(loaded, lambda m: m.marked("more", seed=1))
    MARKS.change(loaded, lambda m: m.marked("less", seed=2))  # each change reads the file first
    assert MARKS.read(loaded)[0].seeds == {1: "more", 2: "less"}


def test_forgetting_the_marks_leaves_no_file(loaded):
    MARKS.change(loaded, lambda m: m.marked("more", seed=1))
    assert MARKS.path(loaded).exists()
    MARKS.change(loaded, lambda _: Marks())
    assert not MARKS.path(loaded).exists() and MARKS.read(loaded) == (Marks(), ())


def test_marks_are_bounded_and_sides_are_more_or_less(loaded):
    many = Marks({seed: "more" for seed in range(MAX_MARKS)})
    with pytest.raises(StudioError, match=f"at most {MAX_MARKS}"):
        many.marked("less", seed=MAX_MARKS)
    assert many.marked("less", seed=0).seeds[0] == "less"  # a change of side is no new mark
    with pytest.raises(StudioError, match="not 'bigger'"):
        Marks().marked("bigger", seed=0)


@pytest.mark.parametrize(
    "content, says",
    [
        (b"\x00\xffnot json", "not valid JSON"),
        (b"[1, 2]", "not marks of version 1"),
        (b'{"version": 1, "seeds": {"3": "<b>more</b>"}}', "marked other than less or more"),
        (b'{"version": 1, "seeds": {"-3": "more"}}', "not a seed"),
        (b'{"version": 1, "seeds": {"1e400": "more"}}', "not a seed"),
        (b'{"version": 1, "first": 1e400}', "first seed is not a seed"),
        (b'{"version": 1, "first": true}', "first seed is not a seed"),
        (b'{"version": 1, "name": "' + b"x" * 41 + b'"}', "at most 40 characters"),
        (b'{"version": 1, "pictures": {"../../etc/passwd": "more"}}', "as the Gallery names"),
        (
            json.dumps({"version": 1, "seeds": {str(s): "less" for s in range(600)}}).encode(),
            "more than 512 pictures",
        ),
        (b"[" * 5000, "nested more than"),
        (b" " * 70_000, "too large"),
    ],
)
def test_a_marks_file_that_cannot_be_used_is_named_and_set_aside_by_the_next_mark(
    loaded, content, says
):
    path = MARKS.path(loaded)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    marks, (problem,) = MARKS.read(loaded)
    assert marks == Marks() and "\n" not in problem
    assert problem.startswith("your marks for gan-shapes cannot be used")
    assert says in problem
    MARKS.change(loaded, lambda m: m.marked("more", seed=7))
    assert MARKS.read(loaded) == (Marks({7: "more"}), ())
    assert path.with_name(path.name + ".unreadable").read_bytes() == content


def test_a_mark_made_while_another_is_being_kept_is_refused_in_words(loaded):
    path = MARKS.path(loaded)
    path.parent.mkdir(parents=True, exist_ok=True)
    refused = []

    def other_tab() -> None:
        try:
            MARKS.change(loaded, lambda m: m.marked("more", seed=1))
        except StudioError as err:
            refused.append(str(err))

    with held(path.with_name(path.name + ".lock")):
        tab = threading.Thread(target=other_tab)
        tab.start()
        tab.join()
    assert refused == ["another tab is saving marks for this model: try again"]
    assert MARKS.read(loaded) == (Marks(), ())

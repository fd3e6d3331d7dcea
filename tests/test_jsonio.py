"""JSON from outside is parsed in one place, with limits: every problem is a StudioError."""

import pytest

from studio.errors import StudioError
from studio.jsonio import MAX_DEPTH, load_json, read_json


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5000, 100_000])
def test_deep_nesting_is_refused_however_deep(depth):
    with pytest.raises(StudioError, match=f"the card is nested more than {MAX_DEPTH} levels"):
        load_json(_nested(depth), what="the card", max_bytes=1 << 20)


def test_nesting_up_to_the_limit_and_plain_values_parse():
    deepest = load_json(_nested(MAX_DEPTH), what="x", max_bytes=1 << 10)
    for _ in range(MAX_DEPTH - 1):
        (deepest,) = deepest
    assert deepest == []
    assert load_json('{"a": [1, {"b": null}]}', what="x", max_bytes=100) == {"a": [1, {"b": None}]}
    assert load_json("7", what="x", max_bytes=10) == 7


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{" * 50, "too large"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not"),
        ("1" * 5000, "not usable JSON"),  # more digits than Python turns into an int
    ],
)
def test_every_problem_is_a_studio_error_naming_what_it_read(text, says):
    with pytest.raises(StudioError, match=says) as caught:
        load_json(text, what="the recipe", max_bytes=40 if says == "too large" else 10_000)
    assert str(caught.value).startswith("the recipe")


def test_a_file_is_read_no_further_than_the_limit(tmp_path):
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 500_000 + "0]")
    with pytest.raises(StudioError, match="too large"):
        read_json(big, max_bytes=1000)
    with pytest.raises(StudioError, match="cannot read"):
        read_json(tmp_path / "missing.json", max_bytes=1000)

"""The calculator task: prompts, tool execution and scoring (pure functions)."""

from __future__ import annotations

import pytest

from faultwise.rft.faultbench import task as T


def test_prompt_roundtrip_and_fixed_width():
    problems = T.sample_problems(200, seed=3)
    assert {len(p.prompt) for p in problems} == {6}
    for p in problems:
        assert T.parse_prompt(p.prompt) == p
    assert {p.op for p in problems} == set("+-*")


def test_parse_prompt_rejects_garbage():
    with pytest.raises(ValueError):
        T.parse_prompt("hello")


@pytest.mark.parametrize(
    ("expr", "text", "ok"),
    [
        ("12*07", "84", True),
        ("50-61", "-11", True),
        ("3+4", "7", True),
        ("12*", "ERR", False),
        ("", "ERR", False),
    ],
)
def test_calculator(expr, text, ok):
    assert T.run_calculator(expr) == (text, ok)


def test_score_separates_correctness_and_format():
    p = T.Problem(12, "*", 7)
    good = T.demonstration(p, use_tool=True)
    assert T.score(p, good) == T.Outcome(answer=84, correct=True, format_ok=True)
    assert T.score(p, good).reward == pytest.approx(T.CORRECT_REWARD + T.FORMAT_REWARD)
    wrong = "<ans>85</ans>"
    assert T.score(p, wrong).correct is False and T.score(p, wrong).format_ok is True
    assert T.score(p, "<calc>12*07</calc><obs>84</obs>").answer is None  # never answered
    assert T.score(p, "<ans>84</ans>").reward > T.score(p, "<ans>8</ans>").reward
    assert T.score(p, "").reward == 0.0

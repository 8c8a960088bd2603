"""One level map and one definition of an error line, shared by loaders, profile, tools and methods."""

import pandas as pd

from faultwise.rcl.telemetry.levels import (
    MESSAGE_HEAD_CHARS,
    error_lines_per_pod,
    is_error_line,
    names_trouble,
    norm_level,
    norm_levels,
)
from faultwise.rcl.telemetry.nezha import parse_levels


def _logs(rows):
    return pd.DataFrame(rows, columns=["pod", "level", "message"])


def test_level_words_map_to_the_canonical_levels():
    words = pd.Series(["fatal", " Warning", "CRITICAL", "trace", "notice", "err", "verbose", None])
    assert norm_levels(words).tolist() == ["ERROR", "WARN", "ERROR", "DEBUG", "INFO", "ERROR", "", ""]
    assert [norm_level(w) for w in words] == norm_levels(words).tolist()


def test_nezha_level_words_use_the_same_map():
    lines = pd.Series(["2023 SEVERE x", "a WARNING b", "INFO ok", "nothing here"])
    assert parse_levels(lines).tolist() == ["ERROR", "WARN", "INFO", ""]


def test_error_line_is_the_level_or_an_error_named_in_the_head():
    tail_only = "x" * MESSAGE_HEAD_CHARS + " error"
    logs = _logs(
        [
            ("a", "ERROR", "all fine"),  # level alone
            ("a", "FATAL", "all fine"),  # an alias of ERROR
            ("b", "INFO", "request Failed with code 3"),  # text alone, any case
            ("b", "WARN", "retrying"),  # neither
            ("c", "INFO", tail_only),  # the error is named only past the head
        ]
    )
    assert is_error_line(logs).tolist() == [True, True, True, False, False]
    assert error_lines_per_pod(logs).to_dict() == {"a": 2.0, "b": 1.0}
    assert error_lines_per_pod(None).empty and error_lines_per_pod(logs.iloc[:0]).empty


def test_trouble_words_are_broader_than_error_lines():
    texts = pd.Series(["connection refused", "read timed out", "timeout", "permission denied", "ok"])
    assert names_trouble(texts).tolist() == [True, True, True, True, False]

"""Log levels and error lines, defined once for every loader, the normal profile, the tools and the
comparison methods.

Loaders map whatever level word a format carries onto the canonical levels of the log table (``ERROR``,
``WARN``, ``INFO``, ``DEBUG``, or ``""``) through :data:`LEVEL_ALIASES`. An *error line* is a line at
``ERROR`` level, or whose head names an error, an exception or a failure: many services log failures at
INFO or WARN.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Level words as formats write them -> the canonical level of the log table.
LEVEL_ALIASES: dict[str, str] = {
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
    "SEVERE": "ERROR",
    "PANIC": "ERROR",
    "WARN": "WARN",
    "WARNING": "WARN",
    "INFO": "INFO",
    "NOTICE": "INFO",
    "DEBUG": "DEBUG",
    "TRACE": "DEBUG",
}
#: How much of a message the error test reads: the key of a line lives in its head, payload dumps in its tail.
MESSAGE_HEAD_CHARS = 400
_ERROR_TEXT = re.compile(r"error|exception|fail", re.IGNORECASE)
#: Words that make a log *template* error-like (broader than an error line: refusals, time-outs, denials).
_TROUBLE_WORDS = r"(?i)exception|error|fail|refused|timed? ?out|unavailable|denied"


def norm_level(value: object) -> str:
    """The canonical level of one level word; ``""`` for none or an unknown word."""
    return LEVEL_ALIASES.get(str(value or "").strip().upper(), "")


def norm_levels(values: pd.Series) -> pd.Series:
    """:func:`norm_level` over a column."""
    return values.fillna("").astype(str).str.strip().str.upper().map(LEVEL_ALIASES).fillna("").astype(str)


def level_of_severity_number(n: int) -> str:
    """OTLP severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-24 ERROR/FATAL."""
    if n <= 0:
        return ""
    if n <= 8:
        return "DEBUG"
    if n <= 12:
        return "INFO"
    if n <= 16:
        return "WARN"
    return "ERROR"


def is_error_level(levels: pd.Series) -> np.ndarray:
    """Lines at ``ERROR`` level (any alias of it)."""
    return (norm_levels(levels) == "ERROR").to_numpy()


def is_warning_or_error_level(levels: pd.Series) -> np.ndarray:
    """Lines at ``WARN`` or ``ERROR`` level (any alias of them)."""
    return norm_levels(levels).isin(["ERROR", "WARN"]).to_numpy()


def is_error_line(logs: pd.DataFrame) -> np.ndarray:
    """The error lines of a log table: ``ERROR`` level, or a head that names an error, an exception or a
    failure (the text test runs once per distinct message)."""
    if not len(logs):
        return np.zeros(0, dtype=bool)
    msg = logs["message"].astype(str)
    hit = {m: bool(_ERROR_TEXT.search(m[:MESSAGE_HEAD_CHARS])) for m in pd.unique(msg)}
    return is_error_level(logs["level"]) | msg.map(hit).to_numpy(dtype=bool)


def error_lines_per_pod(logs: pd.DataFrame | None) -> pd.Series:
    """How many error lines (:func:`is_error_line`) each pod wrote; empty without logs."""
    if logs is None or not len(logs):
        return pd.Series(dtype=float)
    return logs.loc[is_error_line(logs)].groupby("pod").size().astype(float)


def names_trouble(texts: pd.Series) -> np.ndarray:
    """Texts (log templates) that name an error, an exception, a failure, a refusal, a time-out, an
    unavailable peer or a denial."""
    return texts.astype(str).str.contains(_TROUBLE_WORDS, regex=True).to_numpy(dtype=bool)

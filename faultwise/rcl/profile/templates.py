"""Log templates: turn raw log lines into stable event keys so patterns can be compared with a baseline.

A light Drain-style masking: variable tokens (numbers, hex ids, UUIDs, IPs, quoted and bracketed payloads
that carry variables) become ``<*>``, timestamps and trace/span ids are dropped, and only the first
``max_tokens`` tokens are kept, because the tail of a log line is where payload dumps live. Source locations
(``pkg.Class#120``, ``Main.java:88``, ``views.py:42``) are kept whole: two statements of one method often log
the same text, and telling them apart is what shows a code path cut short (the later line goes quiet).
"""

from __future__ import annotations

import re
from functools import lru_cache

_LEADING_TIME = re.compile(
    r"^\s*(?:\d{4}-\d{2}-\d{2}[T ])?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}:?\d{2})?\s+"
)
_TRACE_IDS = re.compile(r"(?i)\b(?:trace_?id|span_?id)[:=]\s*\S+\s*")
_VAR = re.compile(
    r"(?<![A-Za-z_])(?:"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # uuid
    r"|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"  # ip[:port]
    r"|0x[0-9a-fA-F]+"
    r"|[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*(?=\b)"  # hex with digits and letters
    r"|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
    r")(?![A-Za-z_])"
)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_BRACKET_VAR = re.compile(r"[\[({][^\[\](){}]*<\*>[^\[\](){}]*[\])}]")
_KEY_VALUE = re.compile(r"(?<==)[^,;\s)\]}]+")
_SPACES = re.compile(r"\s+")
_CODE_LOCATION = re.compile(
    r"((?<![\w$.])(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*#\d+\b"  # logback %logger#%line
    r"|(?<![\w$.])[\w$-]+\.(?:java|kt|scala|groovy|py|go|rs|js|ts|rb|cs|cpp|cc|c|h|php):\d+\b)"  # file:line
)


def _mask(text: str) -> str:
    text = _QUOTED.sub("<*>", text)
    text = _KEY_VALUE.sub("<*>", text)
    text = _VAR.sub("<*>", text)
    for _ in range(3):  # nested payloads
        new = _BRACKET_VAR.sub("<*>", text)
        if new == text:
            break
        text = new
    return text


@lru_cache(maxsize=65536)
def template_of(message: str, max_tokens: int = 10) -> str:
    """Stable template key of one log message."""
    text = _LEADING_TIME.sub("", message[:400].strip())  # the key lives in the head of a line
    text = _TRACE_IDS.sub("", text)
    parts = _CODE_LOCATION.split(text)  # odd items are locations, kept verbatim
    text = "".join(part if i % 2 else _mask(part) for i, part in enumerate(parts))
    tokens = _SPACES.split(text.strip())[:max_tokens]
    return " ".join(tokens)

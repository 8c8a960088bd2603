"""Times as people read them: durations in µs, ms or s chosen by size, instants in UTC.

The method's texts (rationales, symptoms, an LLM's reasons) write durations as raw microseconds
(``2012343us vs normal 4029us``); :func:`humanize_text` rewrites every such figure for display, so every
output speaks the same units whoever wrote the text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

US_PER_MS = 1_000
US_PER_S = 1_000_000

_RAW_US = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s?(?:us|µs)\b")


def human_duration(us: float) -> str:
    """``1.23 s``, ``45.6 ms`` or ``789 µs``: the unit chosen by size, three significant figures."""
    if us != us:  # NaN
        return "-"
    sign = "-" if us < 0 else ""
    a = abs(float(us))
    if a >= US_PER_S:
        value, unit = a / US_PER_S, "s"
    elif a >= US_PER_MS:
        value, unit = a / US_PER_MS, "ms"
    else:
        return f"{sign}{a:.0f} µs"
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{sign}{value:.{digits}f} {unit}"


def human_shift(us: float) -> str:
    """A change of duration with its sign: ``+2.0 s``, ``-350 µs``."""
    return ("+" if us >= 0 else "") + human_duration(us)


def human_time(us: int) -> str:
    """An instant (microseconds since the epoch) in UTC, to the second."""
    return datetime.fromtimestamp(us / US_PER_S, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def human_window(lo_us: int, hi_us: int) -> str:
    """A time window: both ends in UTC (to the millisecond when it is shorter than a minute, the end
    without its date when on the same day) and its length."""
    fine = hi_us - lo_us < 60 * US_PER_S
    a = datetime.fromtimestamp(lo_us / US_PER_S, tz=UTC)
    b = datetime.fromtimestamp(hi_us / US_PER_S, tz=UTC)
    clock = "%H:%M:%S.%f" if fine else "%H:%M:%S"
    start = a.strftime("%Y-%m-%d " + clock)
    end = b.strftime(clock if a.date() == b.date() else "%Y-%m-%d " + clock)
    if fine:
        start, end = start[:-3], end[:-3]
    return f"{start} → {end} UTC ({human_duration(hi_us - lo_us)})"


def humanize_text(text: str) -> str:
    """Every raw microsecond figure of a text (``2012343us``) in human units (``2.01 s``)."""
    return _RAW_US.sub(lambda m: human_duration(float(m.group(1))), text)


__all__ = ["human_duration", "human_shift", "human_time", "human_window", "humanize_text"]

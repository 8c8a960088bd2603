"""What a diagnosis did and did not look at, said plainly: the part of every output that keeps an empty
ranking from reading as an all-clear.

:func:`describe_coverage` compares the diagnosis with the telemetry it was given: how many traces and
spans there were and how many were analysed, which baseline the normal profile came from (declared
fault-free files, the period before the incident start, or none), the error spans seen and whether they
were analysed, and the loaders' warnings. When nothing was analysed it says why. Its notes join the
diagnosis' warnings, so the terminal table, ``--json`` and the HTML report all carry them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.reports.units import human_time
from faultwise.rcl.telemetry.enrich import spans_off_roots
from faultwise.rcl.telemetry.schema import Telemetry

if TYPE_CHECKING:
    from faultwise.rcl.method.analyzer import Diagnosis

#: Error spans listed by name in the output (all are counted).
MAX_LISTED_ERROR_SPANS = 20
#: Of those, how many a warning line names.
NAMED_IN_WARNING = 3
PRE_START = "period before the incident"

BaselineKind = Literal["declared", "pre-start", "declared + pre-start", "none"]


class ErrorSpan(BaseModel):
    """One failed span of the incident, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trace_id: str
    span_id: str
    service: str
    operation: str
    status_code: str = Field("", description="the raw status the source gave")
    analysed: bool = Field(description="its trace was diagnosed")


class Coverage(BaseModel):
    """How much of the incident the diagnosis covered, and what it compared against."""

    model_config = ConfigDict(extra="forbid")

    spans_total: int = Field(ge=0, description="spans loaded")
    traces_total: int = Field(ge=0, description="traces loaded")
    traces_in_window: int = Field(ge=0, description="traces that start inside the incident window")
    traces_analysed: int = Field(ge=0, description="traces diagnosed span by span")
    spans_analysed: int = Field(ge=0, description="spans of the diagnosed traces")
    error_spans_total: int = Field(ge=0, description="failed spans loaded")
    error_spans_analysed: int = Field(ge=0, description="failed spans inside the diagnosed traces")
    error_spans_missed: int = Field(
        ge=0,
        description="failed spans left out: in incident traces that were not diagnosed (all failed spans "
        "when no trace was)",
    )
    error_spans: list[ErrorSpan] = Field(
        default_factory=list,
        description=f"the failed spans, those left out first (at most {MAX_LISTED_ERROR_SPANS})",
    )
    baseline_kind: BaselineKind = Field(description="where the normal profile came from")
    baseline: str = Field(description="the baseline in words")
    modalities: list[str] = Field(default_factory=list, description="modalities the diagnosis used")
    why_nothing: str = Field("", description="why no trace was analysed (empty when some were)")


def baseline_kind(diagnosis: Diagnosis) -> BaselineKind:
    parts = [p.strip() for p in (diagnosis.baseline_source or "").split(" + ") if p.strip()]
    pre = any(p.startswith(PRE_START) for p in parts)
    declared = any(not p.startswith(PRE_START) and p.lower() not in ("none", "-") for p in parts)
    if declared and pre:
        return "declared + pre-start"
    if declared:
        return "declared"
    return "pre-start" if pre else "none"


def baseline_words(diagnosis: Diagnosis, kind: BaselineKind) -> str:
    start = human_time(diagnosis.window_us[0])
    declared = [
        p.strip()
        for p in (diagnosis.baseline_source or "").split(" + ")
        if p.strip() and not p.strip().startswith(PRE_START)
    ]
    if kind == "declared":
        return f"declared fault-free telemetry ({'; '.join(declared)})"
    if kind == "declared + pre-start":
        return f"declared fault-free telemetry ({'; '.join(declared)}) and the period before {start}"
    if kind == "pre-start":
        return f"the period before {start} (taken as normal)"
    return "none: nothing to compare against"


def _error_spans(
    spans: pd.DataFrame, analysed: set[str], in_scope: set[str] | None
) -> tuple[int, int, int, list[ErrorSpan]]:
    """(failed spans, of them analysed, of them missed, listed): a failed span is missed when its trace was
    not analysed though it is in scope (``in_scope``: the traces of the incident window; None: all)."""
    err = spans.loc[spans["is_error"].astype(bool)]
    if not len(err):
        return 0, 0, 0, []
    trace = err["trace_id"].astype(str)
    in_analysed = trace.isin(analysed).to_numpy()
    missed = ~in_analysed & (trace.isin(in_scope).to_numpy() if in_scope is not None else True)
    ordered = pd.concat([err.loc[missed], err.loc[~missed]])
    listed = [
        ErrorSpan(
            trace_id=str(r.trace_id),
            span_id=str(r.span_id),
            service=str(r.service),
            operation=str(r.operation),
            status_code=str(r.status_code),
            analysed=str(r.trace_id) in analysed,
        )
        for r in ordered.head(MAX_LISTED_ERROR_SPANS).itertuples(index=False)
    ]
    return len(err), int(in_analysed.sum()), int(missed.sum()), listed


def _why_nothing(cov: Coverage, diagnosis: Diagnosis) -> str:
    if cov.traces_analysed:
        return ""
    start = human_time(diagnosis.window_us[0])
    if cov.traces_in_window == 0:
        if cov.baseline_kind == "pre-start":
            return (
                f"no trace was analysed: all {cov.traces_total} trace(s) start before the incident window "
                f"({start}), so they were taken as the normal baseline (with no fault-free baseline and no "
                "incident start given, the first part of the time range is taken as normal); give fault-free "
                "traces (--baseline) or the incident start (--start)"
            )
        return f"no trace was analysed: no trace starts inside the incident window (from {start})"
    return (
        f"no trace was analysed: none of the {cov.traces_in_window} trace(s) in the incident window "
        f"deviates from the baseline ({cov.baseline}) enough to be diagnosed"
    )


def _name(e: ErrorSpan) -> str:
    status = f", status {e.status_code}" if e.status_code else ""
    return f"{e.service or '?'} {e.operation or '?'} (span {e.span_id}{status})"


#: Traces with parent cycles named one by one in the warnings (the rest are counted).
MAX_CYCLE_NOTES = 3


def _cycle_notes(spans: pd.DataFrame, analysed: set[str]) -> list[str]:
    """One line per trace (a few) whose spans hang on a parent cycle that no root leads to."""
    off = spans_off_roots(spans)
    notes = []
    for trace_id, ids in list(off.items())[:MAX_CYCLE_NOTES]:
        fate = (
            "analysed with the cycle broken (reported, not fatal)"
            if trace_id in analysed
            else "the trace was not analysed"
        )
        named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        notes.append(
            f"trace {trace_id}: {len(ids)} span(s) hang on a parent cycle that no root leads to "
            f"({named}); {fate}"
        )
    if len(off) > MAX_CYCLE_NOTES:
        notes.append(f"{len(off) - MAX_CYCLE_NOTES} more trace(s) with parent cycles")
    return notes


def describe_coverage(diagnosis: Diagnosis, incident: Telemetry) -> Coverage:
    """What ``diagnosis`` covered of ``incident``; also puts the loaders' warnings and every note on what
    was not analysed (why nothing was, error spans left out) into ``diagnosis.warnings``, first."""
    spans = incident.spans
    analysed = {g.trace_id for g in diagnosis.trace_graphs} or {g.trace_id for g in diagnosis.graphs}
    first = spans.groupby("trace_id")["start_us"].min() if len(spans) else pd.Series(dtype="int64")
    kind = baseline_kind(diagnosis)
    in_window = {str(t) for t in first.index[first >= diagnosis.window_us[0]]}
    n_err, n_err_analysed, n_missed, listed = _error_spans(
        spans, analysed, in_window if diagnosis.traces_analyzed else None
    )
    cov = Coverage(
        spans_total=len(spans),
        traces_total=int(spans["trace_id"].nunique()) if len(spans) else 0,
        traces_in_window=len(in_window),
        traces_analysed=diagnosis.traces_analyzed,
        spans_analysed=diagnosis.spans_analyzed,
        error_spans_total=n_err,
        error_spans_analysed=n_err_analysed,
        error_spans_missed=n_missed,
        error_spans=listed,
        baseline_kind=kind,
        baseline=baseline_words(diagnosis, kind),
        modalities=list(diagnosis.modalities),
    )
    cov.why_nothing = _why_nothing(cov, diagnosis)
    notes = list(incident.warnings)
    notes.extend(_cycle_notes(spans, analysed))
    if cov.why_nothing:
        notes.append(cov.why_nothing)
    missed = listed[:n_missed]
    if n_missed:
        named = "; ".join(_name(e) for e in missed[:NAMED_IN_WARNING])
        more = f" and {n_missed - NAMED_IN_WARNING} more" if n_missed > NAMED_IN_WARNING else ""
        where = "" if not cov.traces_analysed else " in incident traces that were not diagnosed"
        notes.append(f"{n_missed} error span(s){where} were not analysed: {named}{more}")
    if kind == "none":
        notes.append("no normal baseline: nothing was compared against normal behaviour")
    diagnosis.warnings[:0] = [n for n in notes if n not in diagnosis.warnings]
    return cov


__all__ = ["Coverage", "ErrorSpan", "MAX_LISTED_ERROR_SPANS", "baseline_kind", "describe_coverage"]

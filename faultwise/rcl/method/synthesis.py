"""Synthesis: from every trace's root-level report plus the evidence graphs to one ranked list.

Each diagnosed trace votes for the component its recursion blamed, weighted by the report's confidence.
The evidence graphs add *breadth*: how consistently a component's own evidence (processing time, network
gap, errors, log pattern) is abnormal across the diagnosed traces it takes part in, so that a component
blamed in few traces but abnormal everywhere still ranks, and one outlier span does not. Pods roll up to their service when every pod of the service is blamed,
and to their node when several pods of one node are blamed and the node's own metrics deviate.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pydantic import BaseModel, ConfigDict, Field

from faultwise.rcl.records import Candidate, EvidenceGraph
from faultwise.rcl.tools import DataTools

_HOST_SYMPTOMS = {"cpu", "memory", "latency", "network_delay"}


class SynthesisConfig(BaseModel):
    """How the traces' conclusions and the evidence graphs become one ranked list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    use_graph_breadth: bool = Field(
        True, description="add each pod's consistency of own evidence across its traces (off: votes only)"
    )
    breadth_weight: float = Field(0.5, ge=0, description="weight of that consistency against the votes")
    node_metric_z: float = Field(
        3.0, ge=0, description="metric shift (z) a node needs before its abnormal pods roll up to it"
    )
    max_candidates: int = Field(10, ge=1, description="candidates returned")
    smoothing_traces: float = Field(
        5.0,
        ge=0,
        description="traces added to a pod's participation, so that rare pods do not win on one vote",
    )


def _participation(tools: DataTools) -> dict[str, int]:
    s = tools.spans
    lo = tools.window_us[0] if tools.window_us else None
    if lo is not None:
        first = s.groupby("trace_id")["start_us"].transform("min")
        s = s[first >= lo]
    return s.drop_duplicates(["trace_id", "pod"]).groupby("pod").size().astype(int).to_dict()


def synthesize(
    graphs: list[EvidenceGraph], tools: DataTools, config: SynthesisConfig | None = None
) -> list[Candidate]:
    cfg = config or SynthesisConfig()
    votes: dict[str, float] = defaultdict(float)
    types: dict[str, Counter] = defaultdict(Counter)
    symptoms: dict[str, list[str]] = defaultdict(list)
    blamed_in: Counter = Counter()
    service_of: dict[str, str] = {}
    node_of: dict[str, str] = {}
    n = max(len(graphs), 1)
    for g in graphs:
        for rep in g.root_reports:
            if rep.root_cause_span is None or rep.component is None:
                continue
            votes[rep.component] += rep.confidence
            types[rep.component][rep.fault_type] += rep.confidence
            blamed_in[rep.component] += 1
            service_of[rep.component] = rep.service or rep.component
            node_of[rep.component] = rep.node or ""
            ev = g.nodes.get(rep.root_cause_span)
            if ev is not None:
                for s in ev.key_symptoms:
                    if s not in symptoms[rep.component] and len(symptoms[rep.component]) < 5:
                        symptoms[rep.component].append(s)

    # breadth is consistency: the mean, over the diagnosed traces a pod takes part in, of its strongest own
    # evidence there; a cause shows its evidence trace after trace, while every busy pod has outlier spans
    breadth: dict[str, float] = {}
    breadth_kind: dict[str, str] = {}
    if cfg.use_graph_breadth:
        per_trace: dict[str, list[float]] = defaultdict(list)
        strongest: dict[str, float] = defaultdict(float)
        for g in graphs:
            in_trace: dict[str, float] = defaultdict(float)
            for ev in g.nodes.values():
                service_of.setdefault(ev.pod, ev.service)
                node_of.setdefault(ev.pod, ev.node)
                # own evidence only: processing time, network gap, own log pattern (not propagated latency)
                local = max(ev.self_time_score, ev.gap_score, ev.log_score, ev.structure_score)
                in_trace[ev.pod] = max(in_trace[ev.pod], local)
                if local > strongest[ev.pod]:
                    strongest[ev.pod] = local
                    kinds = {
                        "latency": ev.self_time_score,
                        "network_delay": ev.gap_score,
                        "error_return": max(ev.log_score, ev.structure_score),
                    }
                    breadth_kind[ev.pod] = max(kinds, key=kinds.get)
            for pod, v in in_trace.items():
                per_trace[pod].append(v)
        breadth = {pod: sum(v) / len(v) for pod, v in per_trace.items()}

    # precision of blame: votes relative to how many incident traces the pod takes part in, so that busy
    # pods do not win on the sporadic outliers every pod has
    participation = _participation(tools)
    pods = sorted(
        set(votes) | {p for p, b in breadth.items() if b > 0}
    )  # sorted: ties break the same way every run
    score = {
        p: votes.get(p, 0.0) / (max(participation.get(p, 0), blamed_in[p]) + cfg.smoothing_traces)
        + cfg.breadth_weight * breadth.get(p, 0.0)
        for p in pods
    }
    score = {p: s for p, s in score.items() if s > 0}
    if not score:
        return []

    cands: list[Candidate] = []
    used: set[str] = set()
    # node roll-up: several blamed pods on one node whose own metrics deviate
    by_node: dict[str, list[str]] = defaultdict(list)
    for p in score:
        if node_of.get(p):
            by_node[node_of[p]].append(p)
    top = max(score.values())
    for node, members in by_node.items():
        # a saturated host slows its pods' own work; pods blamed for errors or for being down are not its symptoms
        strong = [
            p
            for p in members
            if score[p] >= 0.2 * top
            and (types[p].most_common(1)[0][0] if types[p] else breadth_kind.get(p, "")) in _HOST_SYMPTOMS
        ]
        services = {service_of.get(p, p) for p in strong}
        nm = tools.metric_shifts(node)
        if len(services) >= 2 and nm.max_abs_z >= cfg.node_metric_z:
            ranked = sorted((score[p] for p in strong), reverse=True)
            s = ranked[0] + 0.25 * sum(
                ranked[1:]
            )  # above each member pod, not a sum that grows with pod count
            cands.append(
                Candidate(
                    component=node,
                    level="node",
                    fault_type="node_fault",
                    score=round(s, 4),
                    service="",
                    rationale=f"{len(strong)} pods of {len(services)} services on node {node} are abnormal "
                    f"and the node's metrics deviate",
                    evidence=[
                        f"{d.metric} {d.baseline_mean:.3g} -> {d.incident_mean:.3g} (z={d.z:.1f})"
                        for d in nm.deviations[:3]
                    ]
                    + [f"pod {p}" for p in strong[:3]],
                )
            )
    # service roll-up: every pod of a multi-pod service blamed
    pods_of_service: dict[str, set[str]] = defaultdict(set)
    for p in set(service_of):
        pods_of_service[service_of[p]].add(p)
    for svc, members in pods_of_service.items():
        blamed = [p for p in members if score.get(p, 0) >= 0.3 * top]
        if len(members) >= 2 and len(blamed) == len(members):
            s = max(score[p] for p in blamed)
            ft = sum((types[p] for p in blamed), Counter())
            cands.append(
                Candidate(
                    component=svc,
                    level="service",
                    fault_type=ft.most_common(1)[0][0] if ft else "unknown",
                    score=round(s, 4),
                    service=svc,
                    rationale=f"all {len(members)} pods of {svc} are blamed",
                    evidence=[e for p in blamed for e in symptoms[p][:2]][:5],
                )
            )
            used.update(blamed)
    for p, s in score.items():
        if p in used:
            continue
        ft = types[p].most_common(1)[0][0] if types[p] else "unknown"
        k = blamed_in[p]
        rationale = (
            f"blamed by the recursion in {k} of {n} anomalous traces"
            if k
            else "abnormal own evidence across traces"
        )
        if breadth.get(p):
            rationale += f"; own evidence across its traces {breadth[p]:.2f} on average (0..1)"
        pm = tools.metric_shifts(p)
        ev = list(symptoms[p])
        if pm.deviations and abs(pm.deviations[0].z) >= 3:
            d = pm.deviations[0]
            ev.append(f"metric {d.metric} {d.baseline_mean:.3g} -> {d.incident_mean:.3g} (z={d.z:.1f})")
        cands.append(
            Candidate(
                component=p,
                level="pod",
                fault_type=ft,
                score=round(s, 4),
                service=service_of.get(p, p),
                rationale=rationale,
                evidence=ev[:6],
            )
        )
    cands.sort(key=lambda c: (-c.score, c.component))
    return cands[: cfg.max_candidates]

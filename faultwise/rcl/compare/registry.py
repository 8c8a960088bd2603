"""The methods the bench knows by name, and the groups ``all``, ``comparisons`` and ``ablations``.

Adding a method is one call: ``register_method(name, factory, groups)``, where the factory builds the method
from the bench's :class:`MethodSettings` (the analyzer's config and reasoner, which the comparison methods
ignore). :class:`FunctionMethod` turns a plain ranking function into a method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from faultwise.errors import InputError
from faultwise.rcl.compare.base import Method
from faultwise.rcl.compare.log_errors import LogErrorRate
from faultwise.rcl.compare.metric_dev import MetricDeviation
from faultwise.rcl.compare.pagerank import AnomalyPageRank
from faultwise.rcl.compare.random_rank import RandomRanking
from faultwise.rcl.compare.rcl import RCLMethod
from faultwise.rcl.compare.self_time import SelfTimeDeviation
from faultwise.rcl.method.analyzer import RCLConfig
from faultwise.rcl.reasoners.base import Reasoner
from faultwise.rcl.records import Candidate, Ranking
from faultwise.rcl.telemetry.schema import Telemetry


def _no_reasoner() -> Reasoner | None:
    return None


class MethodSettings(BaseModel):
    """What the bench hands every method factory: the analyzer's config (ablations change one switch of it)
    and a builder of its reasoner."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    config: RCLConfig = Field(
        default_factory=RCLConfig, description="the analyzer's config of every rcl method"
    )
    reasoner: Callable[[], Reasoner | None] = Field(
        _no_reasoner,
        description="builds the reasoner of one rcl method (None: the embedded one); called once per method, "
        "so that each keeps its own LLM accounting",
    )


MethodFactory = Callable[[MethodSettings], Method]
RankFunction = Callable[[Telemetry, Telemetry | None, int | None], list[Candidate]]


@dataclass(frozen=True)
class FunctionMethod:
    """A plain function ``rank(incident, normal, start_us) -> list[Candidate]`` as a :class:`Method`."""

    name: str
    rank: RankFunction

    def find_root_causes(
        self, incident: Telemetry, normal: Telemetry | None = None, start_us: int | None = None
    ) -> Ranking:
        return Ranking(candidates=self.rank(incident, normal, start_us))


_FACTORIES: dict[str, MethodFactory] = {}
_GROUPS: dict[str, list[str]] = {"all": [], "comparisons": [], "ablations": []}


def register_method(name: str, factory: MethodFactory, groups: Sequence[str] = ("all",)) -> None:
    """Make ``name`` known to :func:`make_methods` (and to ``--methods``), in the given groups (a group is
    created on first use); registering a known name again replaces its factory."""
    if not name or "," in name or name in _GROUPS:
        raise ValueError(f"cannot register a method named {name!r}")
    _FACTORIES[name] = factory
    for g in groups:
        members = _GROUPS.setdefault(g, [])
        if name not in members:
            members.append(name)


def registered_methods() -> list[str]:
    """Every registered name, in registration order."""
    return list(_FACTORIES)


def method_groups() -> dict[str, list[str]]:
    """Every group and its members, in registration order."""
    return {g: list(m) for g, m in _GROUPS.items()}


def method_names(spec: str) -> list[str]:
    """``all``, ``comparisons``, ``ablations`` or comma-separated names (groups may be mixed in), in order,
    without repeats; an unknown name is a one-line error."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        for n in _GROUPS.get(part, [part]):
            if n not in _FACTORIES:
                known = ", ".join([*_GROUPS, *_FACTORIES])
                raise InputError("--methods", f"unknown method {n!r}; use {known}")
            if n not in out:
                out.append(n)
    if not out:
        raise InputError("--methods", "no method named")
    return out


def make_methods(spec: str, settings: MethodSettings | None = None) -> list[Method]:
    """The named methods, built with ``settings`` (default: the default config, embedded reasoner)."""
    settings = settings or MethodSettings()
    return [_FACTORIES[n](settings) for n in method_names(spec)]


def _rcl_variant(name: str, change: Callable[[RCLConfig], RCLConfig] | None = None) -> MethodFactory:
    """Our method under ``name``, with the bench's config changed by ``change`` (an ablation)."""

    def make(settings: MethodSettings) -> Method:
        config = change(settings.config) if change else settings.config
        return RCLMethod(name, config, settings.reasoner())

    return make


def _switch(**update: object) -> Callable[[RCLConfig], RCLConfig]:
    return lambda c: c.model_copy(update=update)


def _no_graph(c: RCLConfig) -> RCLConfig:
    return c.model_copy(update={"synthesis": c.synthesis.model_copy(update={"use_graph_breadth": False})})


def _plain(method: Callable[[], Method]) -> MethodFactory:
    return lambda _settings: method()


_COMPARED = ("all", "comparisons")
register_method("rcl", _rcl_variant("rcl"), ("all", "comparisons", "ablations"))
register_method("random", _plain(RandomRanking), _COMPARED)
register_method("self-time", _plain(SelfTimeDeviation), _COMPARED)
register_method("log-errors", _plain(LogErrorRate), _COMPARED)
register_method("metric-dev", _plain(MetricDeviation), _COMPARED)
register_method("pagerank", _plain(AnomalyPageRank), _COMPARED)
_ABLATED = ("all", "ablations")
register_method("rcl-no-logs", _rcl_variant("rcl-no-logs", _switch(use_logs=False)), _ABLATED)
register_method("rcl-no-metrics", _rcl_variant("rcl-no-metrics", _switch(use_metrics=False)), _ABLATED)
register_method("rcl-no-graph", _rcl_variant("rcl-no-graph", _no_graph), _ABLATED)
register_method("rcl-levels", _rcl_variant("rcl-levels", _switch(schedule="levels")), _ABLATED)

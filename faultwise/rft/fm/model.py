"""The fitted failure-manager model (normal profile + diagnosers + fitted setups), saved and loaded as one JSON
file."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faultwise.errors import InputError
from faultwise.io import atomic_write_text
from faultwise.rft.fm.detect.profile import NormalProfile
from faultwise.rft.fm.detect.selfref import SelfRefConfig
from faultwise.rft.fm.diagnose.classifier import DiagnoserModel
from faultwise.rft.fm.domain import SetupDomain
from faultwise.rft.records import first_problem

MODEL_FORMAT = "faultwise.rft.fm/1"


class FMModel(BaseModel):
    """What the failure manager needs: the normal profile (detection), the diagnosers (of the profile's
    windows, and scale-free of the run's own), and the setups it was fitted on; one JSON file."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(MODEL_FORMAT, description="file format tag, checked on load")
    profile: NormalProfile = Field(description="normal profile of healthy runs (detection)")
    diagnoser: DiagnoserModel | None = Field(
        None, description="fitted fault-type classifier; None: the interpretable fingerprints alone"
    )
    selfref_diagnoser: DiagnoserModel | None = Field(
        None,
        description="fault-type classifier over the self-referenced detector's windows (scale-free: the run "
        "against its own history), for runs the profile does not apply to; None: the fingerprints alone",
    )
    selfref: SelfRefConfig | None = Field(
        None, description="constants of the self-referenced detector chosen on the bench (None: defaults)"
    )
    confirm_steps: int = Field(
        2, ge=0, description="steps after the first alarm before diagnosing its window"
    )
    domain: SetupDomain | None = Field(
        None,
        description="the training setups fitted on (hull per setting); a run declaring a setting outside it is "
        "judged without the model. None: not recorded (judged on the first steps' signals only)",
    )
    fitted_on: str = Field(
        "",
        description="the bench(es) the model was fitted on, comma-separated (the comparison methods refit there)",
    )
    baseline: str = Field(
        "",
        description="the healthy runs the profile was refitted on (`rft rebaseline`), comma-separated; empty: "
        "the normal runs of the fitting benches",
    )


def save_model(model: FMModel, path: str | Path) -> None:
    """Write ``model`` as JSON to ``path`` (atomically)."""
    atomic_write_text(path, model.model_dump_json(indent=1))


def load_model(path: str | Path) -> FMModel:
    """Read a model written by :func:`save_model`; a bad file is an :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "model file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(p, f"not a JSON model file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise InputError(p, f"not a faultwise RFT-FM model (expected format {MODEL_FORMAT})")
    try:
        return FMModel.model_validate(data)
    except ValidationError as exc:
        raise InputError(p, f"invalid model: {first_problem(exc)}") from None

"""The fitted failure-manager model (normal profile + diagnoser), saved and loaded as one JSON file."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from faultwise.errors import InputError
from faultwise.io import atomic_write_text
from faultwise.rft.detect.profile import NormalProfile
from faultwise.rft.diagnose.classifier import DiagnoserModel

MODEL_FORMAT = "faultwise.rft.fm/1"


class FMModel(BaseModel):
    format: str = MODEL_FORMAT
    profile: NormalProfile
    diagnoser: DiagnoserModel | None = None
    confirm_steps: int = 2
    fitted_on: str = ""


def save_model(model: FMModel, path: str | Path) -> None:
    atomic_write_text(path, model.model_dump_json(indent=1))


def load_model(path: str | Path) -> FMModel:
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
        first = exc.errors()[0]
        raise InputError(p, f"invalid model: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None

"""Where the LLM is and how to talk to it: flags over environment over a config file over defaults."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faultwise.errors import InputError

ENV_VARS = {
    "base_url": "FAULTWISE_LLM_BASE_URL",
    "model": "FAULTWISE_LLM_MODEL",
    "api_key": "FAULTWISE_LLM_API_KEY",
}
ENV_CONFIG_FILE = "FAULTWISE_LLM_CONFIG"


class LLMConfig(BaseModel):
    """An OpenAI-compatible endpoint and the client's behaviour towards it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        description="e.g. http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama)"
    )
    model: str
    api_key: str = Field("not-needed", description="local servers ignore it; hosted APIs need it")
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, description="retries of one request on timeouts, 429 and 5xx")
    backoff_s: float = Field(0.5, ge=0, description="first retry wait; doubles each retry")
    backoff_max_s: float = Field(8.0, ge=0)
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(512, ge=16)
    response_format: Literal["auto", "json_schema", "json_object", "prompted"] = Field(
        "auto", description="first rung of the structured-output ladder (auto = json_schema)"
    )
    tool_calling: Literal["auto", "native", "prompted"] = Field(
        "auto", description="auto = native function calling, prompted when the server rejects tools"
    )
    breaker_failures: int = Field(
        8, ge=1, description="after this many requests in a row fail for good, fail the rest at once"
    )


def _read_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read the LLM config file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise InputError(path, f"not valid {kind}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a table/object of settings")
    section = data.get("llm", data)  # settings at the top level or under [llm]
    if not isinstance(section, dict):
        raise InputError(path, "[llm] must be a table of settings")
    return section


def load_llm_config(
    flags: Mapping[str, object] | None = None,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> LLMConfig:
    """Merge the sources (flags win, then the environment, then the file); a missing endpoint or model, an
    unknown key or a bad value is one :class:`InputError` naming where it came from."""
    env = os.environ if env is None else env
    if config_file is None and env.get(ENV_CONFIG_FILE):
        config_file = env[ENV_CONFIG_FILE]
    source = str(config_file) if config_file else "LLM settings"
    merged: dict[str, object] = _read_file(Path(config_file)) if config_file else {}
    merged.update({k: env[v] for k, v in ENV_VARS.items() if env.get(v)})
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    for key, flag in (("base_url", "--llm-base-url"), ("model", "--llm-model")):
        if not merged.get(key):
            raise InputError(
                flag, f"no {key} for --reasoner llm: pass {flag}, set {ENV_VARS[key]} or use --llm-config"
            )
    try:
        return LLMConfig.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise InputError(source, f"{where}: {err['msg']}") from None

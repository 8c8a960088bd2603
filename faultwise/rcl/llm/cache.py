"""Response cache keyed on the exact request, on disk, written atomically.

A re-run of a benchmark with the same model, prompts and data makes no calls at all. The key is the SHA-256
of the canonical JSON of everything that shapes the answer (endpoint, model, messages, tools, response
format, sampling); an unreadable entry is treated as a miss, never as an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from faultwise.io import atomic_write_text


def request_key(request: dict) -> str:
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    env = os.environ.get("FAULTWISE_LLM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "faultwise" / "llm"


class ResponseCache:
    """One JSON file per request under ``root/<2 hex>/<sha256>.json``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, request: dict) -> dict | None:
        path = self._path(request_key(request))
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put(self, request: dict, response: dict) -> None:
        atomic_write_text(self._path(request_key(request)), json.dumps(response, ensure_ascii=False))

"""Turning an answer into a validated record, and keeping what goes into a prompt small.

Records are parsed as whole JSON documents (optionally inside one Markdown code fence) and validated by
pydantic: never by picking substrings out of prose. A failure is a :class:`RecordError` whose message is
short enough to send back to the model in the repair retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, create_model

T = TypeVar("T", bound=BaseModel)


class RecordError(ValueError):
    """The answer is not the requested record; the message says why in one short line."""


def _unfence(text: str) -> str:
    text = text.strip()
    if text.startswith("```") and text.endswith("```") and text.count("```") == 2:
        body = text[3:-3]
        first, _, rest = body.partition("\n")
        return (rest if first.strip().isalpha() or not first.strip() else body).strip()
    return text


def parse_record(content: str | None, model: type[T], check: Callable[[T], None] | None = None) -> T:
    """Validate ``content`` as one ``model`` record; ``check`` adds rules the schema cannot say."""
    if not content or not content.strip():
        raise RecordError("the answer was empty")
    try:
        data = json.loads(_unfence(content))
    except ValueError as exc:
        raise RecordError(f"not a JSON document ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    try:
        record = model.model_validate(data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()[:3]]
        raise RecordError("; ".join(parts)) from None
    if check is not None:
        try:
            check(record)
        except ValueError as exc:
            raise RecordError(str(exc)) from None
    return record


def pick_fields(source: type[BaseModel], name: str, fields: list[str], **overrides: Any) -> type[BaseModel]:
    """A model holding only the decision fields of ``source`` (same types and descriptions), so the LLM is
    asked for the judgement and not for identity fields we already know."""
    defs: dict[str, Any] = {}
    for f in fields:
        info = source.model_fields[f]
        defs[f] = overrides.get(f, (info.annotation, info))
    return create_model(name, **defs)


def compact(value: Any, max_items: int = 5, max_str: int = 160) -> Any:
    """Shorten lists and strings recursively and round floats: tool results and reports in a prompt."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: compact(v, max_items, max_str) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list | tuple):
        out = [compact(v, max_items, max_str) for v in list(value)[:max_items]]
        if len(value) > max_items:
            out.append(f"... {len(value) - max_items} more")
        return out
    if isinstance(value, str) and len(value) > max_str:
        return value[: max_str - 3] + "..."
    if isinstance(value, float):
        return round(value, 3)
    return value


def dumps_capped(value: Any, max_chars: int) -> str:
    """Compact JSON text of ``value``, cut at ``max_chars`` (marked) so no tool result can flood a prompt."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    mark = " ...[truncated]"
    return text if len(text) <= max_chars else text[: max_chars - len(mark)] + mark


def dumps_fitting(items: list, max_chars: int) -> str:
    """JSON of as many leading ``items`` as fit in ``max_chars`` (whole items, so the text stays valid
    JSON); a single item too big on its own is cut as a last resort."""
    items = list(items)
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    while len(text) > max_chars and len(items) > 1:
        items.pop()
        text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    return dumps_capped(items, max_chars)

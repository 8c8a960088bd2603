"""The prompt texts live in ``faultwise/rcl/prompts/*.md`` (package data), with ``{name}`` placeholders."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load_prompt(name: str) -> str:
    return (files("faultwise.rcl") / "prompts" / f"{name}.md").read_text(encoding="utf-8").strip()


def render(prompt: str, **values: object) -> str:
    """Fill ``{key}`` placeholders without str.format, so JSON braces in values and texts are safe."""
    text = load_prompt(prompt)
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text

"""Errors that the CLI turns into one clear line and a non-zero exit (no traceback)."""

from __future__ import annotations

from pathlib import Path


class FaultwiseError(Exception):
    """Base class for every error that is the user's input or environment, not our bug."""

    exit_code = 2


class InputError(FaultwiseError):
    """A file (or other input) that cannot be used: names the source and the problem in one line."""

    def __init__(self, source: str | Path, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ServiceError(FaultwiseError):
    """A remote service (LLM endpoint, ...) that is down or answers badly."""

    exit_code = 3

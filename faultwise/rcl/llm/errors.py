"""Why an LLM call failed for good. The reasoner catches these per agent and falls back; nothing else."""

from __future__ import annotations

from faultwise.errors import ServiceError


class LLMError(ServiceError):
    """The endpoint could not give a usable answer (after retries and the structured-output ladder)."""


class LLMUnavailable(LLMError):
    """Timeouts, connection errors, 429 or 5xx that outlasted the retries (or an open circuit)."""


class LLMRejected(LLMError):
    """The endpoint refused the request (4xx other than 429): retrying the same request cannot help."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class LLMBadOutput(LLMError):
    """The answer did not validate as the requested record, even after the repair retry."""

"""Why an LLM call failed for good. The reasoner catches these per agent and falls back; nothing else."""

from __future__ import annotations

from faultwise.errors import ServiceError


class LLMError(ServiceError):
    """The endpoint could not give a usable answer (after retries and the structured-output ladder)."""


class LLMUnavailable(LLMError):
    """Timeouts, connection errors, 429 or overload that outlasted the retries (or an open circuit)."""


class LLMRejected(LLMError):
    """The endpoint refused the request (an error status other than 429 and overload): retrying the same
    request cannot help."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class LLMBadOutput(LLMError):
    """The answer did not validate as the requested record, even after the repair retry."""


class LLMOverBudget(LLMError):
    """The incident's call or token budget cannot pay for this request: it was not sent."""


class LLMUnsupported(LLMRejected):
    """The endpoint refused a parameter it does not support (its message names it): step down a ladder."""

    def __init__(self, message: str, status: int | None, parameter: str):
        super().__init__(message, status)
        self.parameter = parameter

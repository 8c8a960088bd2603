"""What one incident may spend on the LLM: calls and tokens, admitted before each request is sent.

A request is admitted only while the calls sent so far, and the tokens spent so far plus those reserved by
requests in flight plus this request's estimate, stay within the limits; otherwise it is not sent
(:class:`~faultwise.rcl.llm.errors.LLMOverBudget`) and the caller's embedded reasoner decides. The estimate
of a request is deliberately high (a token per three characters of the request, plus the whole
``max_tokens`` of the answer), and is replaced by the server's count once the answer is in, so concurrent
requests cannot overrun the token limit together. A reserve held back for the final synthesis is open to
requests marked ``final`` only.
"""

from __future__ import annotations

import math

from faultwise.rcl.llm.errors import LLMOverBudget

CHARS_PER_TOKEN_LOW = 3  # fewer characters per token than the usual four: the estimate errs high


def estimate_tokens(request_chars: int, max_tokens: int) -> int:
    """A high estimate of what one request costs: its prompt, and the longest answer it allows."""
    return math.ceil(request_chars / CHARS_PER_TOKEN_LOW) + max_tokens


class Budget:
    """Limits of one incident (``None`` = no limit) and what was spent against them."""

    def __init__(
        self,
        calls: int | None = None,
        tokens: int | None = None,
        reserve_calls: int = 0,
        reserve_tokens: int = 0,
    ):
        self.calls = calls
        self.tokens = tokens
        self.reserve_calls = reserve_calls
        self.reserve_tokens = reserve_tokens
        self.calls_used = 0
        self.tokens_used = 0
        self.refused = 0
        self._pending_tokens = 0

    @property
    def unlimited(self) -> bool:
        return self.calls is None and self.tokens is None

    def admit(self, estimate: int, final: bool = False) -> int:
        """Admit one request of ``estimate`` tokens (raises :class:`LLMOverBudget`); returns the tokens
        reserved for it, to hand back to :meth:`settle`."""
        calls_cap = self.calls if self.calls is None or final else self.calls - self.reserve_calls
        tokens_cap = self.tokens if self.tokens is None or final else self.tokens - self.reserve_tokens
        if calls_cap is not None and self.calls_used + 1 > calls_cap:
            self.refused += 1
            raise LLMOverBudget(f"the call budget ({self.calls} per incident) is spent")
        if tokens_cap is not None and self.tokens_used + self._pending_tokens + estimate > tokens_cap:
            self.refused += 1
            raise LLMOverBudget(f"the token budget ({self.tokens} per incident) is spent")
        self.calls_used += 1
        self._pending_tokens += estimate
        return estimate

    def settle(self, reserved: int, spent_tokens: int) -> None:
        """Replace a request's reservation by what it really cost (0 when it failed)."""
        self._pending_tokens -= reserved
        self.tokens_used += spent_tokens

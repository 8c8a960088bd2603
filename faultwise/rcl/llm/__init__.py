"""A thin client of ours over any OpenAI-compatible chat-completions endpoint.

Config (flags / environment / file), retries with backoff (timeouts, 429, overload), an on-disk response
cache keyed on the exact request, the structured-output ladder (json_schema -> json_object -> prompted JSON
with one repair), tool calling with a prompted fallback, a per-incident budget of calls and tokens, and
accounting of calls, tokens (cached ones too) and money.
"""

from faultwise.rcl.llm.budget import Budget
from faultwise.rcl.llm.cache import ResponseCache
from faultwise.rcl.llm.client import ChatReply, LLMClient, Tool
from faultwise.rcl.llm.config import LLMConfig, load_llm_config
from faultwise.rcl.llm.errors import (
    LLMBadOutput,
    LLMError,
    LLMOverBudget,
    LLMRejected,
    LLMUnavailable,
    LLMUnsupported,
)
from faultwise.rcl.llm.usage import LLMUsage, Prices

__all__ = [
    "Budget",
    "ChatReply",
    "LLMBadOutput",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "LLMOverBudget",
    "LLMRejected",
    "LLMUnavailable",
    "LLMUnsupported",
    "LLMUsage",
    "Prices",
    "ResponseCache",
    "Tool",
    "load_llm_config",
]

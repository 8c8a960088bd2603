"""A thin client of ours over any OpenAI-compatible chat-completions endpoint.

Config (flags / environment / file), retries with backoff, an on-disk response cache keyed on the exact
request, the structured-output ladder (json_schema -> json_object -> prompted JSON with one repair), tool
calling with a prompted fallback, and accounting of calls and tokens.
"""

from faultwise.rcl.llm.cache import ResponseCache
from faultwise.rcl.llm.client import ChatReply, LLMClient, Tool
from faultwise.rcl.llm.config import LLMConfig, load_llm_config
from faultwise.rcl.llm.errors import LLMBadOutput, LLMError, LLMRejected, LLMUnavailable
from faultwise.rcl.llm.usage import LLMUsage

__all__ = [
    "ChatReply",
    "LLMBadOutput",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "LLMRejected",
    "LLMUnavailable",
    "LLMUsage",
    "ResponseCache",
    "Tool",
    "load_llm_config",
]

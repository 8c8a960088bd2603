"""The policy of every bench run: a tiny Llama over a character-level tokenizer, warm-started by SFT.

Why so small: the runs are real GRPO runs that must train on two shared CPU cores, dozens of them in an hour.
Why a warm start: RL from a random model gets zero reward and no signal; a short supervised phase on a mix of
tool-using and direct-answer demonstrations gives a partly competent policy (task accuracy well between 0 and
1) whose tool use RL can then improve. The warm start is cached on disk keyed by its config.

Also here: :func:`sample_rollouts`, the tool-in-the-loop sampler the runner gives TRL as its ``rollout_func``.
It takes :class:`SamplingParams` (which fault injectors may transform) and an environment hook for the tool
result (which tool/environment faults transform).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from faultwise.rft.faultbench import task as T

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ("<pad>", "<bos>", "<unk>")
CHARS = tuple("0123456789+-*?ER")
VOCAB: tuple[str, ...] = SPECIALS + T.TAGS + CHARS
PROMPT_TOKENS = 7  # <bos> + "dd?dd?"-style fixed-width prompt


class PolicyConfig(BaseModel):
    """Architecture and warm-start recipe; its JSON is the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_size: int = Field(64, gt=0, description="width of the Llama (embedding and hidden size)")
    layers: int = Field(2, gt=0, description="number of transformer layers")
    heads: int = Field(4, gt=0, description="attention heads (and key/value heads) per layer")
    max_positions: int = Field(64, gt=0, description="longest sequence (prompt + completion) in tokens")
    sft_steps: int = Field(150, ge=0, description="supervised warm-start steps")
    sft_batch: int = Field(64, gt=0, description="demonstrations per warm-start step")
    sft_lr: float = Field(3e-3, gt=0, description="warm-start learning rate (AdamW)")
    sft_tool_fraction: float = Field(
        0.5, ge=0, le=1, description="share of warm-start demonstrations that use the calculator"
    )
    sft_seed: int = Field(1234, description="seed of the initial weights and of the demonstrations")
    version: int = Field(1, ge=1, description="bump to invalidate cached warm starts")

    def key(self) -> str:
        """Short hash of the config: the warm start's cache directory name."""
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:16]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` with one token per character and one per tag; ``</ans>`` is EOS."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(VOCAB)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    pattern = "|".join(re.escape(t) for t in sorted(SPECIALS + T.TAGS, key=len, reverse=True)) + "|."
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token=T.ANS_CLOSE,
        unk_token="<unk>",
        padding_side="left",
    )
    return tok


class Codec:
    """Fast id <-> text mapping without the tokenizer's overhead (the sampler runs it per token)."""

    def __init__(self) -> None:
        self.id_of = {t: i for i, t in enumerate(VOCAB)}
        self.pad, self.bos, self.eos = self.id_of["<pad>"], self.id_of["<bos>"], self.id_of[T.ANS_CLOSE]
        self.calc_close = self.id_of[T.CALC_CLOSE]
        self.calc_open = self.id_of[T.CALC_OPEN]
        self._pattern = re.compile("|".join(re.escape(t) for t in T.TAGS) + "|.")

    def encode(self, text: str) -> list[int]:
        return [self.id_of.get(t, self.id_of["<unk>"]) for t in self._pattern.findall(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(VOCAB[i] for i in ids if i not in (self.pad, self.bos))

    def prompt_ids(self, prompt: str) -> list[int]:
        ids = [self.bos, *self.encode(prompt)]
        if len(ids) != PROMPT_TOKENS:
            raise ValueError(f"prompt {prompt!r} is not {PROMPT_TOKENS - 1} tokens")
        return ids


def build_model(cfg: PolicyConfig, seed: int) -> LlamaForCausalLM:
    """A freshly initialised policy of ``cfg``'s shape (weights drawn with ``seed``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    codec = Codec()
    conf = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.hidden_size * 2,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=codec.pad,
        bos_token_id=codec.bos,
        eos_token_id=codec.eos,
    )
    return LlamaForCausalLM(conf)


def _sft_batch(
    codec: Codec, cfg: PolicyConfig, rng: np.random.Generator
) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and a loss mask (1 on policy-emitted tokens, 0 on the prompt and on observations)."""
    problems = T.sample_problems(cfg.sft_batch, int(rng.integers(0, 2**31)))
    seqs, masks = [], []
    for p in problems:
        text = T.demonstration(p, use_tool=bool(rng.random() < cfg.sft_tool_fraction))
        ids = codec.encode(text)
        mask = []
        in_obs = False
        for tid in ids:
            tok = VOCAB[tid]
            if tok == T.OBS_OPEN:
                in_obs = True
            mask.append(0 if in_obs else 1)
            if tok == T.OBS_CLOSE:
                in_obs = False
        seqs.append(codec.prompt_ids(p.prompt) + ids)
        masks.append([0] * PROMPT_TOKENS + mask)
    width = max(len(s) for s in seqs)
    seqs = [s + [codec.pad] * (width - len(s)) for s in seqs]
    masks = [m + [0] * (width - len(m)) for m in masks]
    return seqs, masks


def default_cache_dir() -> Path:
    """Where warm starts are cached: ``$FAULTWISE_CACHE/rft`` (default ``~/.cache/faultwise/rft``)."""
    return Path(os.environ.get("FAULTWISE_CACHE", Path.home() / ".cache" / "faultwise")) / "rft"


def warm_start(cfg: PolicyConfig, cache_dir: str | Path | None = None) -> Path:
    """Return a directory holding the SFT-warm-started model; train and cache it on first use."""
    import torch

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / f"policy-{cfg.key()}"
    if (target / "config.json").exists() and (target / "warm_start.json").exists():
        return target
    codec = Codec()
    model = build_model(cfg, cfg.sft_seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.sft_lr)
    rng = np.random.default_rng(cfg.sft_seed)
    model.train()
    loss_value = float("nan")
    for _ in range(cfg.sft_steps):
        seqs, masks = _sft_batch(codec, cfg, rng)
        ids = torch.tensor(seqs)
        mask = torch.tensor(masks, dtype=torch.float32)
        logits = model(input_ids=ids, attention_mask=(ids != codec.pad).long()).logits[:, :-1]
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1), reduction="none"
        )
        loss = (nll * mask[:, 1:].reshape(-1)).sum() / mask[:, 1:].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_value = float(loss)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_dir))
    try:
        model.save_pretrained(tmp)
        build_tokenizer().save_pretrained(tmp)
        (tmp / "warm_start.json").write_text(
            json.dumps({"config": cfg.model_dump(), "final_sft_loss": loss_value})
        )
        if target.exists():  # another worker won the race; keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_policy(path: str | Path) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """The policy saved in ``path`` (a warm start or a trainer checkpoint) and the task's tokenizer."""
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.from_pretrained(path), build_tokenizer()


# ------------------------------------------------------------------------------------------------ sampling


class SamplingParams(BaseModel):
    """What the sampler does per token. Generation faults transform a copy of it for the active step
    (``params.model_copy(update=...)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    max_new_tokens: int = Field(24, gt=0, description="completion length limit (policy + environment tokens)")
    eos_bias_first: float = Field(0.0, description="added to the end-of-sequence logit at the first position")
    eos_bias: float = Field(0.0, description="added to the end-of-sequence logit at every position")
    repeat_bias: float = Field(0.0, description="added to the logit of the previous token")
    eos_ban_fraction: float = Field(
        0.0, ge=0, le=1, description="share of trajectories that may not emit end-of-sequence"
    )
    empty_fraction: float = Field(
        0.0, ge=0, le=1, description="share of trajectories forced to end at the first position"
    )


@dataclass
class ToolResult:
    """The environment's answer to one tool call; environment faults rewrite it."""

    expression: str
    text: str
    ok: bool
    terminate: bool = False


@dataclass
class Rollout:
    """One sampled episode: completion ids (policy and environment tokens) and what happened in it."""

    prompt: str
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    tool_calls: int = 0
    tool_errors: int = 0
    policy_tokens: int = 0
    finished: bool = False  # emitted EOS (an answer close)
    terminated_by_env: bool = False
    text: str = ""


ToolHook = Callable[[ToolResult, np.random.Generator], ToolResult]


def sample_rollouts(
    model: LlamaForCausalLM,
    prompts: list[str],
    params: SamplingParams,
    rng: np.random.Generator,
    tool_hook: ToolHook | None = None,
) -> list[Rollout]:
    """Sample one episode per prompt with the calculator in the loop (batched, no KV cache: tiny model)."""
    import torch

    codec = Codec()
    outs = [Rollout(prompt=p, prompt_ids=codec.prompt_ids(p)) for p in prompts]
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31)))
    banned = rng.random(len(prompts)) < params.eos_ban_fraction
    emptied = rng.random(len(prompts)) < params.empty_fraction
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            while True:
                active = [
                    i
                    for i, r in enumerate(outs)
                    if not r.finished
                    and not r.terminated_by_env
                    and len(r.completion_ids) < params.max_new_tokens
                ]
                if not active:
                    break
                seqs = [outs[i].prompt_ids + outs[i].completion_ids for i in active]
                lens = [len(s) for s in seqs]
                width = max(lens)
                ids = torch.tensor([s + [codec.pad] * (width - len(s)) for s in seqs])
                att = torch.tensor([[1] * n + [0] * (width - n) for n in lens])
                logits = model(input_ids=ids, attention_mask=att).logits
                last = logits[torch.arange(len(active)), torch.tensor(lens) - 1].float()
                logp_true = torch.log_softmax(last / max(params.temperature, 1e-4), dim=-1)
                biased = last.clone()
                for row, i in enumerate(active):
                    r = outs[i]
                    if r.policy_tokens == 0:
                        biased[row, codec.eos] += params.eos_bias_first
                    biased[row, codec.eos] += params.eos_bias
                    if r.completion_ids and params.repeat_bias:
                        biased[row, r.completion_ids[-1]] += params.repeat_bias
                    if banned[i]:
                        biased[row, codec.eos] = -1e9
                    elif emptied[i] and r.policy_tokens == 0:
                        biased[row, :] = -1e9
                        biased[row, codec.eos] = 0.0
                    biased[row, codec.pad] = -1e9
                    biased[row, codec.bos] = -1e9
                probs = torch.softmax(biased / max(params.temperature, 1e-4), dim=-1)
                picks = torch.multinomial(probs, 1, generator=gen).squeeze(1)
                for row, i in enumerate(active):
                    r = outs[i]
                    tid = int(picks[row])
                    r.completion_ids.append(tid)
                    r.env_mask.append(1)
                    r.logprobs.append(float(logp_true[row, tid]))
                    r.policy_tokens += 1
                    if tid == codec.eos:
                        r.finished = True
                    elif tid == codec.calc_close:
                        _run_tool(r, codec, rng, tool_hook, params.max_new_tokens)
    finally:
        model.train(was_training)
    for r in outs:
        r.text = codec.decode(r.completion_ids)
    return outs


def _run_tool(r: Rollout, codec: Codec, rng: np.random.Generator, hook: ToolHook | None, limit: int) -> None:
    """Execute the call that ``</calc>`` just closed and append the observation as environment tokens."""
    text = codec.decode(r.completion_ids)
    start = text.rfind(T.CALC_OPEN)
    expr = text[start + len(T.CALC_OPEN) : -len(T.CALC_CLOSE)] if start >= 0 else ""
    obs, ok = T.run_calculator(expr) if start >= 0 else (T.TOOL_ERROR_TEXT, False)
    result = ToolResult(expression=expr, text=obs, ok=ok)
    if hook is not None:
        result = hook(result, rng)
    r.tool_calls += 1
    r.tool_errors += int(not result.ok)
    obs_ids = codec.encode(f"{T.OBS_OPEN}{result.text}{T.OBS_CLOSE}")
    obs_ids = obs_ids[: max(0, limit - len(r.completion_ids))]
    r.completion_ids.extend(obs_ids)
    r.env_mask.extend([0] * len(obs_ids))
    r.logprobs.extend([0.0] * len(obs_ids))
    if result.terminate:
        r.terminated_by_env = True

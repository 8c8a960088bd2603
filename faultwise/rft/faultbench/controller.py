"""The glue between TRL and the bench: applies injectors and settings, and records every step.

:class:`BenchController` is what the runner hands to TRL: its ``rollout_func`` (tool-in-the-loop sampling under
the possibly faulty sampling parameters), its reward function (rewards, reward faults, the reward guard), the
post-processing of advantages and loss (credit-assignment faults, update freeze, ``drop_corrupted``), and the
builder of the :class:`~faultwise.rft.records.StepRecord` and
:class:`~faultwise.rft.records.TrajectoryRecord` of every step. Every hook point draws from its own RNG stream
seeded by ``(seed, step, stream)``, so an injector added or removed at one point does not shift the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from faultwise.rft.faultbench import task as T
from faultwise.rft.faultbench.faults import Injector, StepContext
from faultwise.rft.faultbench.faults.base import LossT
from faultwise.rft.faultbench.policy import Rollout, SamplingParams, ToolResult, sample_rollouts
from faultwise.rft.records import FAMILY_OF, StepRecord, TrajectoryRecord

if TYPE_CHECKING:
    from transformers import TrainerControl
    from trl import GRPOTrainer

    from faultwise.rft.faultbench.config import RunConfig

# independent RNG streams per step (hook point)
_SAMPLE, _TOOL, _REWARD, _ADV, _LOSS, _TRAINER = range(6)

StepListener = Callable[[StepRecord, list[TrajectoryRecord], Any, "BenchController"], None]
"""``listener(record, trajectories, control, controller)``, called live after every step."""


@dataclass
class _StepBuffer:
    step: int
    started_s: float
    problems: list[T.Problem] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    outcomes: list[T.Outcome] = field(default_factory=list)
    rewards: np.ndarray | None = None
    advantages: np.ndarray | None = None


class BenchController:
    """The glue between TRL and the bench: applies injectors and settings, and records every step."""

    def __init__(
        self, cfg: RunConfig, injectors: list[Injector], listeners: Iterable[StepListener] = ()
    ) -> None:
        self.settings = cfg.model_copy()
        self.injectors = list(injectors)
        self.listeners = list(listeners)
        self.trainer: GRPOTrainer | None = None
        self.steps: list[StepRecord] = []
        self.trajectories: list[TrajectoryRecord] = []
        self.buffer: _StepBuffer | None = None

    # ---------------------------------------------------------------------------------------------- helpers
    def ctx(self, step: int, stream: int) -> StepContext:
        """The hook context of ``step`` for one RNG stream (hook point)."""
        buf = self.buffer
        return StepContext(
            step=step,
            group_size=self.settings.group_size,
            rng=np.random.default_rng([self.settings.seed, step, stream]),
            scale_rewards=self.settings.scale_rewards,
            problems=buf.problems if buf else [],
            completions=[r.text for r in buf.rollouts] if buf else [],
        )

    def active_injectors(self, step: int) -> list[Injector]:
        """The injectors whose fault acts at ``step``."""
        return [inj for inj in self.injectors if inj.active(step)]

    # ---------------------------------------------------------------------------------------------- step begin
    def begin_step(self, trainer: GRPOTrainer) -> None:
        """Push the (possibly changed) settings into the trainer, then let optimisation faults override them."""
        s = self.settings
        step = trainer.state.global_step + 1
        self.buffer = _StepBuffer(step=step, started_s=time.perf_counter())
        trainer.beta = s.beta
        trainer.epsilon_low = trainer.epsilon_high = s.epsilon
        trainer.temperature = s.temperature
        trainer.max_completion_length = s.max_completion_length
        trainer.scale_rewards = s.scale_rewards
        # TRL enables its entropy term only when entropy_coef != 0 at init; we keep it on with coefficient 0 so
        # policy_loss is always logged and an injector can change the coefficient (private attribute).
        trainer._entropy_bonus_enabled = True
        trainer.entropy_coef = s.entropy_coef
        set_learning_rate(trainer, s.learning_rate)
        ctx = self.ctx(step, _TRAINER)
        for inj in self.injectors:
            inj.trainer(trainer, ctx)

    # ---------------------------------------------------------------------------------------------- rollout
    def rollout_func(self, prompts: list[str], trainer: GRPOTrainer) -> dict[str, list[list[Any]]]:
        """TRL ``rollout_func``: sample with the tool in the loop under the (possibly faulty) sampling params."""
        if self.buffer is None or self.buffer.step != trainer.state.global_step + 1:
            self.begin_step(trainer)
        step = self.buffer.step
        s = self.settings
        params = SamplingParams(temperature=s.temperature, max_new_tokens=s.max_completion_length)
        ctx = self.ctx(step, _SAMPLE)
        for inj in self.injectors:
            params = inj.sampling(params, ctx)
        tool_ctx = self.ctx(step, _TOOL)

        def tool_hook(result: ToolResult, rng: np.random.Generator) -> ToolResult:
            for _attempt in range(1 + s.tool_retries):
                out = result
                for inj in self.injectors:
                    out = inj.tool_result(out, rng, tool_ctx)
                if out.ok:
                    break
            return out

        rollouts = sample_rollouts(trainer.model, list(prompts), params, ctx.rng, tool_hook)
        self.buffer.problems = [T.parse_prompt(p) for p in prompts]
        self.buffer.rollouts = rollouts
        self.buffer.outcomes = [
            T.score(p, r.text) for p, r in zip(self.buffer.problems, rollouts, strict=True)
        ]
        return {
            "prompt_ids": [r.prompt_ids for r in rollouts],
            "completion_ids": [r.completion_ids for r in rollouts],
            "logprobs": [r.logprobs for r in rollouts],
            "env_mask": [r.env_mask for r in rollouts],
        }

    # ---------------------------------------------------------------------------------------------- reward
    def reward_func(self, prompts: list[str], completions: list[Any], **kwargs: Any) -> list[float]:
        """TRL reward function: correctness + format, then reward faults, then the reward guard.

        The reward hooks stand for the primary reward function: with ``reward_fallback`` the run is scored by the
        declared fallback grader instead (the task's own correctness + format reward), so those hooks are not on
        its path — as a real reward function's bug is not on the path of its replacement."""
        buf = self.buffer
        rewards = np.array([o.reward for o in buf.outcomes], dtype=float)
        ctx = self.ctx(buf.step, _REWARD)
        if not self.settings.reward_fallback:
            for inj in self.injectors:
                rewards = np.asarray(inj.rewards(rewards, ctx), dtype=float)
        if self.settings.reward_guard is not None:
            rewards = np.clip(np.nan_to_num(rewards, nan=0.0), 0.0, self.settings.reward_guard)
        buf.rewards = rewards
        return [float(x) for x in rewards]

    reward_func.__name__ = "faultbench_reward"

    # ---------------------------------------------------------------------------------------------- advantages
    def transform_advantages(self, adv: np.ndarray) -> np.ndarray:
        """Advantage faults, then the data filters (``drop_corrupted``, ``mask_truncated_completions``,
        ``drop_degenerate``), on GRPO's advantages of this step. A filter decides from the sampled completions
        alone (like TRL's completion mask), never from what a hook did."""
        buf = self.buffer
        ctx = self.ctx(buf.step, _ADV)
        for inj in self.injectors:
            adv = np.asarray(inj.advantages(adv, buf.rewards, ctx), dtype=float)
        s = self.settings
        if s.drop_corrupted or s.mask_truncated_completions or s.drop_degenerate:
            bad = np.array([filtered_out(r, s) for r in buf.rollouts], dtype=bool)
            adv = np.where(bad, 0.0, adv)
        buf.advantages = adv
        return adv

    def transform_loss(self, loss: LossT) -> LossT:
        """Loss faults (update freeze) on the step's training loss."""
        ctx = self.ctx(self.buffer.step, _LOSS)
        for inj in self.injectors:
            loss = inj.loss(loss, ctx)
        return loss

    # ---------------------------------------------------------------------------------------------- records
    def finish_step(self, logs: dict[str, Any], control: TrainerControl) -> None:
        """Build the step's records from TRL's logs and our rollouts, then call the listeners."""
        buf = self.buffer
        if buf is None or buf.rewards is None:
            return
        step = buf.step
        active = self.active_injectors(step)
        label = self._label(bool(active))
        trajs = [
            self._trajectory(i, r, o, label)
            for i, (r, o) in enumerate(zip(buf.rollouts, buf.outcomes, strict=True))
        ]
        rec = self._step_record(step, logs, trajs, label, bool(active))
        self.steps.append(rec)
        self.trajectories.extend(trajs)
        self.buffer = None
        for fn in self.listeners:
            fn(rec, trajs, control, self)

    def _label(self, active: bool) -> dict[str, str]:
        s = self.settings
        return (
            {"fault_type": s.fault_type, "strength": s.strength}
            if s.fault_type != "none"
            else {"fault_type": "none", "strength": "none"}
        )

    def _trajectory(self, i: int, r: Rollout, o: T.Outcome, label: dict[str, str]) -> TrajectoryRecord:
        buf = self.buffer
        policy = [t for t, m in zip(r.completion_ids, r.env_mask, strict=True) if m == 1]
        body = policy[:-1] if r.finished else policy
        response_length = len(r.completion_ids) - int(r.finished)
        repeats = sum(1 for a, b in zip(body, body[1:], strict=False) if a == b)
        limit = self.settings.max_completion_length
        return TrajectoryRecord.model_validate(
            {
                "step": buf.step,
                "index": i,
                "reward": float(buf.rewards[i]),
                "correct": o.correct,
                "response_length": response_length,
                "advantage": float(buf.advantages[i]) if buf.advantages is not None else 0.0,
                "return": float(buf.rewards[i]),
                "repetition_ratio": repeats / max(len(body) - 1, 1),
                "unique_token_ratio": len(set(body)) / max(len(body), 1),
                "tool_calls": r.tool_calls,
                "tool_errors": r.tool_errors,
                "is_empty": response_length == 0,
                "is_short": response_length == 0 or (not r.finished and len(r.completion_ids) < limit),
                "is_long": not r.finished and len(r.completion_ids) >= limit,
                "format_ok": o.format_ok,
                "terminated_by_env": r.terminated_by_env,
                "in_loss": not filtered_out(r, self.settings),
                **label,
            }
        )

    def _step_record(
        self,
        step: int,
        logs: dict[str, Any],
        trajs: list[TrajectoryRecord],
        label: dict[str, str],
        active: bool,
    ) -> StepRecord:
        rewards = np.array([t.reward for t in trajs])
        adv = np.array([t.advantage for t in trajs])
        lengths = np.array([t.response_length for t in trajs], dtype=float)
        corr = float(np.corrcoef(adv, rewards)[0, 1]) if adv.std() > 1e-9 and rewards.std() > 1e-9 else 0.0
        fam = FAMILY_OF.get(label["fault_type"], "none")
        return StepRecord(
            step=step,
            reward_mean=float(rewards.mean()),
            reward_std=float(rewards.std(ddof=1)) if len(rewards) > 1 else 0.0,
            reward_max=float(rewards.max()),
            kl=_num(logs.get("kl")),
            entropy=_num(logs.get("entropy")),
            policy_loss=_num(logs.get("policy_loss", logs.get("loss"))),
            grad_norm=_num(logs.get("grad_norm")),
            learning_rate=_num(logs.get("learning_rate")),
            response_length_mean=float(lengths.mean()),
            response_length_max=float(lengths.max()),
            clip_ratio=_num(logs.get("clip_ratio/region_mean")),
            tool_calls_per_traj=float(np.mean([t.tool_calls for t in trajs])),
            tool_errors_per_traj=float(np.mean([t.tool_errors for t in trajs])),
            advantage_mean=float(adv.mean()),
            advantage_std=float(adv.std()),
            repetition_ratio_mean=float(np.mean([t.repetition_ratio for t in trajs])),
            empty_ratio=float(np.mean([t.is_empty for t in trajs])),
            task_accuracy=float(np.mean([t.correct for t in trajs])),
            wall_time_s=time.perf_counter() - self.buffer.started_s,
            fault_type=label["fault_type"],
            fault_family=fam,
            strength=label["strength"],
            fault_active=active,
            # optional extras (StepRecord allows extra fields)
            unique_token_ratio_mean=float(np.mean([t.unique_token_ratio for t in trajs])),
            short_ratio=float(np.mean([t.is_short for t in trajs])),
            long_ratio=float(np.mean([t.is_long for t in trajs])),
            format_ratio=float(np.mean([t.model_extra.get("format_ok", False) for t in trajs])),
            adv_reward_corr=corr,
            loss=_num(logs.get("loss")),
        )

    # ---------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The records so far and the live settings (saved beside every checkpoint)."""
        return {
            "settings": json.loads(self.settings.model_dump_json()),
            "steps": [s.model_dump(mode="json") for s in self.steps],
            "trajectories": [t.model_dump(mode="json", by_alias=True) for t in self.trajectories],
        }

    def load_state(self, state: dict[str, Any], upto_step: int) -> None:
        """Restore the records of a checkpoint's state, up to and including ``upto_step``."""
        self.steps = [StepRecord.model_validate(s) for s in state["steps"] if s["step"] <= upto_step]
        self.trajectories = [
            TrajectoryRecord.model_validate(t) for t in state["trajectories"] if t["step"] <= upto_step
        ]


DEGENERATE_REPEAT_RATIO = 0.5  # a completion whose policy tokens mostly repeat the previous one is degenerate


def filtered_out(r: Rollout, settings: RunConfig) -> bool:
    """Whether the run's data filters leave this completion out of the loss (from the completion alone)."""
    if settings.drop_corrupted and (r.tool_errors > 0 or r.terminated_by_env):
        return True
    if settings.mask_truncated_completions and not r.finished:
        return True
    if settings.drop_degenerate:
        body = [t for t, m in zip(r.completion_ids, r.env_mask, strict=True) if m == 1][
            : -1 if r.finished else None
        ]
        if not body:
            return True
        repeats = sum(1 for a, b in zip(body, body[1:], strict=False) if a == b)
        return repeats / max(len(body) - 1, 1) > DEGENERATE_REPEAT_RATIO
    return False


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x


def set_learning_rate(trainer: GRPOTrainer, lr: float) -> None:
    """Set the learning rate of a live trainer: optimizer groups and the scheduler's base (TRL/HF schedulers
    recompute lr from ``base_lrs`` every step)."""
    opt = getattr(trainer, "optimizer", None)
    if opt is None:
        return
    for g in opt.param_groups:
        g["lr"] = lr
        g["initial_lr"] = lr
    sched = getattr(trainer, "lr_scheduler", None)
    if sched is not None and hasattr(sched, "base_lrs"):
        sched.base_lrs = [lr] * len(sched.base_lrs)
        if hasattr(sched, "_last_lr"):  # what the trainer logs as learning_rate
            sched._last_lr = [lr] * len(sched.base_lrs)

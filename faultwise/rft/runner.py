"""One RL fine-tuning run: TRL ``GRPOTrainer`` on the calculator task, with fault injectors, fully recorded.

Public API (what RFT-FM remediation builds on):

- :class:`RunConfig` — every hyperparameter of a run, including the remediation knobs: ``learning_rate``,
  ``beta`` (KL coefficient), ``epsilon`` (clip range), ``temperature``, ``max_completion_length``,
  ``reward_guard`` (clip rewards to ``[0, reward_guard]``), ``scale_rewards`` (advantage normalisation:
  ``group|batch|none``), ``tool_retries`` (retry failed calculator calls), ``drop_corrupted`` (zero the
  advantage of trajectories with tool errors or an environment-ended episode), ``save_every`` (checkpoint every
  K steps), plus the injected fault (``fault_type``, ``strength``, ``onset_step``).
- :func:`run` ``(cfg, workdir, callbacks=(), listeners=(), resume_from=None, injectors=None)`` -> :class:`RunOutput`.
  ``callbacks`` are extra TRL/transformers ``TrainerCallback`` objects. ``listeners`` (and any callback with an
  ``on_step_record`` method) are called live after each step as
  ``on_step_record(record, trajectories, control, controller)`` with the new :class:`StepRecord`, its
  :class:`TrajectoryRecord` list, the trainer's ``control`` (set ``should_training_stop`` to stop) and the
  :class:`BenchController`.
- Checkpoints: with ``save_every=K`` the trainer saves ``workdir/trainer/checkpoint-<step>`` every K steps; each
  also holds ``faultbench_state.json`` (the records so far). ``run(new_cfg, workdir, resume_from=<checkpoint>)``
  rolls back to that checkpoint (records after it are dropped) and continues with ``new_cfg``'s hyperparameters
  — a new learning rate is pushed into the restored optimizer and scheduler (``lr_scheduler.base_lrs``).
- Live changes without a restart: ``controller.settings`` (a :class:`RunConfig`) is re-applied to the trainer at
  every step begin (beta, epsilon, temperature, lr, length limit, reward guard, normalisation, retries, drop;
  a live temperature change affects sampling only: TRL fixes the scoring temperature at trainer init, so
  change it through a resume for both);
  ``controller.injectors`` may be edited (remove one, set ``enabled=False``, change ``strength``) between steps.

Where TRL's public API cannot inject a fault, :class:`FaultyGRPOTrainer` subclasses it at the narrowest
points: ``_generate_and_score_completions`` (post-process the advantages: CA faults, ``drop_corrupted``) and
``_compute_loss`` (scale the loss: update freeze). Rewards go through a reward function, sampling and the tool
through ``rollout_func``, KL/entropy coefficients through trainer attributes set by a callback.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from faultwise.rft import task as T
from faultwise.rft.faults import Injector, StepContext, make_injector
from faultwise.rft.policy import (
    PolicyConfig,
    Rollout,
    SamplingParams,
    ToolResult,
    sample_rollouts,
    warm_start,
)
from faultwise.rft.records import FAMILY_OF, RunInfo, StepRecord, TrajectoryRecord

STATE_FILE = "faultbench_state.json"
# independent RNG streams per step (hook point)
_SAMPLE, _TOOL, _REWARD, _ADV, _LOSS, _TRAINER = range(6)


class RunConfig(BaseModel):
    """A run's hyperparameters and its injected fault. JSON of this goes into ``registry.csv``'s ``config``."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = "run"
    seed: int = 0
    steps: int = Field(32, gt=0)
    prompts_per_step: int = Field(4, gt=0)
    group_size: int = Field(8, gt=1)
    learning_rate: float = Field(5e-4, gt=0)
    beta: float = Field(0.04, ge=0)
    epsilon: float = Field(0.2, gt=0)
    temperature: float = Field(1.0, gt=0)
    max_completion_length: int = Field(24, gt=0)
    scale_rewards: Literal["group", "batch", "none"] = "group"
    reward_guard: float | None = None
    tool_retries: int = Field(0, ge=0)
    drop_corrupted: bool = False
    save_every: int = Field(0, ge=0)
    fault_type: str = "none"
    strength: Literal["easy", "hard", "none"] = "none"
    onset_step: int = Field(0, ge=0)
    task_group: str = "arithmetic"
    policy: dict = Field(default_factory=dict, description="PolicyConfig overrides")

    @property
    def trajectories_per_step(self) -> int:
        return self.prompts_per_step * self.group_size

    def policy_config(self) -> PolicyConfig:
        return PolicyConfig(**self.policy)

    def run_info(self) -> RunInfo:
        return RunInfo(
            run_id=self.run_id,
            family=FAMILY_OF.get(self.fault_type, "none"),
            fault_type=self.fault_type,
            strength=self.strength,
            onset_step=self.onset_step,
            seed=self.seed,
            task_group=self.task_group,
            steps=self.steps,
            trajectories_per_step=self.trajectories_per_step,
            config=self.model_dump_json(),
        )


@dataclass
class RunOutput:
    """What a run produced: its registry row and its records (in step order)."""

    info: RunInfo
    steps: list[StepRecord]
    trajectories: list[TrajectoryRecord]
    wall_time_s: float = 0.0


StepListener = Callable[[StepRecord, list[TrajectoryRecord], Any, "BenchController"], None]


def injectors_for(cfg: RunConfig) -> list[Injector]:
    if cfg.fault_type == "none":
        return []
    return [make_injector(cfg.fault_type, cfg.strength, max(cfg.onset_step, 1))]


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

    def __init__(self, cfg: RunConfig, injectors: list[Injector], listeners: Iterable[StepListener] = ()):
        self.settings = cfg.model_copy()
        self.injectors = list(injectors)
        self.listeners = list(listeners)
        self.trainer = None
        self.steps: list[StepRecord] = []
        self.trajectories: list[TrajectoryRecord] = []
        self.buffer: _StepBuffer | None = None

    # ---------------------------------------------------------------------------------------------- helpers
    def ctx(self, step: int, stream: int) -> StepContext:
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
        return [inj for inj in self.injectors if inj.active(step)]

    # ---------------------------------------------------------------------------------------------- step begin
    def begin_step(self, trainer) -> None:
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
        trainer.entropy_coef = 0.0
        set_learning_rate(trainer, s.learning_rate)
        ctx = self.ctx(step, _TRAINER)
        for inj in self.injectors:
            inj.trainer(trainer, ctx)

    # ---------------------------------------------------------------------------------------------- rollout
    def rollout_func(self, prompts: list[str], trainer) -> dict:
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
    def reward_func(self, prompts, completions, **kwargs) -> list[float]:
        """TRL reward function: correctness + format, then reward faults, then the reward guard."""
        buf = self.buffer
        rewards = np.array([o.reward for o in buf.outcomes], dtype=float)
        ctx = self.ctx(buf.step, _REWARD)
        for inj in self.injectors:
            rewards = np.asarray(inj.rewards(rewards, ctx), dtype=float)
        if self.settings.reward_guard is not None:
            rewards = np.clip(np.nan_to_num(rewards, nan=0.0), 0.0, self.settings.reward_guard)
        buf.rewards = rewards
        return [float(x) for x in rewards]

    reward_func.__name__ = "faultbench_reward"

    # ---------------------------------------------------------------------------------------------- advantages
    def transform_advantages(self, adv: np.ndarray) -> np.ndarray:
        buf = self.buffer
        ctx = self.ctx(buf.step, _ADV)
        for inj in self.injectors:
            adv = np.asarray(inj.advantages(adv, buf.rewards, ctx), dtype=float)
        if self.settings.drop_corrupted:
            bad = np.array([r.tool_errors > 0 or r.terminated_by_env for r in buf.rollouts])
            adv = np.where(bad, 0.0, adv)
        buf.advantages = adv
        return adv

    def transform_loss(self, loss):
        ctx = self.ctx(self.buffer.step, _LOSS)
        for inj in self.injectors:
            loss = inj.loss(loss, ctx)
        return loss

    # ---------------------------------------------------------------------------------------------- records
    def finish_step(self, logs: dict, control) -> None:
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

    def _label(self, active: bool) -> dict:
        s = self.settings
        return (
            {"fault_type": s.fault_type, "strength": s.strength}
            if s.fault_type != "none"
            else {"fault_type": "none", "strength": "none"}
        )

    def _trajectory(self, i: int, r: Rollout, o: T.Outcome, label: dict) -> TrajectoryRecord:
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
                **label,
            }
        )

    def _step_record(
        self, step: int, logs: dict, trajs: list[TrajectoryRecord], label: dict, active: bool
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
    def state_dict(self) -> dict:
        return {
            "settings": json.loads(self.settings.model_dump_json()),
            "steps": [s.model_dump(mode="json") for s in self.steps],
            "trajectories": [t.model_dump(mode="json", by_alias=True) for t in self.trajectories],
        }

    def load_state(self, state: dict, upto_step: int) -> None:
        self.steps = [StepRecord.model_validate(s) for s in state["steps"] if s["step"] <= upto_step]
        self.trajectories = [
            TrajectoryRecord.model_validate(t) for t in state["trajectories"] if t["step"] <= upto_step
        ]


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x


def set_learning_rate(trainer, lr: float) -> None:
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


def _trainer_class():
    from trl import GRPOTrainer

    class FaultyGRPOTrainer(GRPOTrainer):
        """GRPOTrainer with two narrow overrides; TRL has no public hook for advantages or the loss value."""

        bench: BenchController

        def _generate_and_score_completions(self, inputs):
            import torch

            out = super()._generate_and_score_completions(inputs)
            adv = out["advantages"]
            new = self.bench.transform_advantages(adv.detach().cpu().double().numpy())
            out["advantages"] = torch.as_tensor(new, dtype=adv.dtype, device=adv.device)
            return out

        def _compute_loss(self, model, inputs):
            return self.bench.transform_loss(super()._compute_loss(model, inputs))

    return FaultyGRPOTrainer


def _callback_class():
    from transformers import TrainerCallback

    class BenchCallback(TrainerCallback):
        """Applies settings at step begin, builds the StepRecord when TRL logs the step, saves bench state."""

        def __init__(self, controller: BenchController):
            self.c = controller

        def on_train_begin(self, args, state, control, **kwargs):
            set_learning_rate(self.c.trainer, self.c.settings.learning_rate)

        def on_step_begin(self, args, state, control, **kwargs):
            self.c.begin_step(self.c.trainer)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.c.finish_step(logs, control)

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                from faultwise.io import atomic_write_text

                atomic_write_text(ckpt / STATE_FILE, json.dumps(self.c.state_dict()))

    return BenchCallback


def latest_checkpoint(workdir: str | Path) -> Path | None:
    """The newest ``checkpoint-<step>`` under ``workdir/trainer`` that has bench state, or None."""
    root = Path(workdir) / "trainer"
    ckpts = sorted(
        (p for p in root.glob("checkpoint-*") if (p / STATE_FILE).exists()),
        key=lambda p: int(p.name.split("-")[1]),
    )
    return ckpts[-1] if ckpts else None


def run(
    cfg: RunConfig,
    workdir: str | Path,
    callbacks: Iterable[Any] = (),
    listeners: Iterable[StepListener] = (),
    resume_from: str | Path | None = None,
    injectors: list[Injector] | None = None,
    cache_dir: str | Path | None = None,
) -> RunOutput:
    """Train one GRPO run (or continue one from ``resume_from``) and return its records."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from datasets import Dataset
    from transformers.utils import logging as hf_logging
    from trl import GRPOConfig

    from faultwise.rft.policy import load_policy

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    workdir = Path(workdir)
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_policy(warm_start(cfg.policy_config(), cache_dir))
    callbacks = list(callbacks)
    listeners = list(listeners) + [cb.on_step_record for cb in callbacks if hasattr(cb, "on_step_record")]
    controller = BenchController(cfg, injectors if injectors is not None else injectors_for(cfg), listeners)
    if resume_from is not None:
        resume_from = Path(resume_from)
        state = json.loads((resume_from / STATE_FILE).read_text())
        controller.load_state(state, upto_step=int(resume_from.name.split("-")[1]))

    problems = T.sample_problems(cfg.steps * cfg.prompts_per_step * 2, seed=cfg.seed + 7919)
    dataset = Dataset.from_list([{"prompt": p.prompt} for p in problems])
    args = GRPOConfig(
        output_dir=str(workdir / "trainer"),
        per_device_train_batch_size=cfg.trajectories_per_step,
        num_generations=cfg.group_size,
        gradient_accumulation_steps=1,
        max_steps=cfg.steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        scale_rewards=cfg.scale_rewards,
        logging_steps=1,
        report_to="none",
        save_strategy="steps" if cfg.save_every else "no",
        save_steps=cfg.save_every or 500,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=True,
        disable_tqdm=True,
        log_completions=False,
        dataloader_num_workers=0,
        gradient_checkpointing=False,
        shuffle_dataset=True,
    )
    trainer = _trainer_class()(
        model=model,
        reward_funcs=[controller.reward_func],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[_callback_class()(controller), *callbacks],
        rollout_func=controller.rollout_func,
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.bench = controller
    controller.trainer = trainer
    with (
        warnings.catch_warnings()
    ):  # transformers' deprecation notes, triggered inside TRL, drown the progress bar
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\..*)?")
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    return RunOutput(cfg.run_info(), controller.steps, controller.trajectories, time.perf_counter() - t0)


def is_finite_record(rec: StepRecord) -> bool:
    return all(v is None or math.isfinite(v) for v in (rec.kl, rec.entropy, rec.grad_norm, rec.policy_loss))

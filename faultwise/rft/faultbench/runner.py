"""One RL fine-tuning run: TRL ``GRPOTrainer`` on the calculator task, with fault injectors, fully recorded.

Public API (what RFT-FM remediation builds on):

- :class:`RunConfig` (``config.py``) — every hyperparameter of a run, including the remediation knobs: ``learning_rate``,
  ``beta`` (KL coefficient), ``epsilon`` (clip range), ``temperature``, ``max_completion_length``,
  ``reward_guard`` (clip rewards to ``[0, reward_guard]``), ``scale_rewards`` (advantage normalisation:
  ``group|batch|none``), ``tool_retries`` (retry failed calculator calls), ``drop_corrupted`` (zero the
  advantage of trajectories with tool errors or an environment-ended episode), ``ref_sync_steps`` (TRL's
  ``sync_ref_model``: copy the policy into the KL reference every K steps; set at start or resume, not live),
  ``save_every`` (checkpoint every K steps), plus the injected fault (``fault_type``, ``strength``, ``onset_step``).
- :func:`run` ``(cfg, workdir, callbacks=(), listeners=(), resume_from=None, injectors=None)`` -> :class:`RunOutput`.
  ``callbacks`` are extra TRL/transformers ``TrainerCallback`` objects. ``listeners`` (and any callback with an
  ``on_step_record`` method) are called live after each step as
  ``on_step_record(record, trajectories, control, controller)`` with the new :class:`StepRecord`, its
  :class:`TrajectoryRecord` list, the trainer's ``control`` (set ``should_training_stop`` to stop) and the
  :class:`BenchController` (``controller.py``). The :class:`RunOutput` holds the records and the policy the
  run ended with.
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
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faultwise.rft.faultbench import task as T
from faultwise.rft.faultbench.config import RunConfig
from faultwise.rft.faultbench.controller import BenchController, StepListener, set_learning_rate
from faultwise.rft.faultbench.faults import Injector, make_injector
from faultwise.rft.faultbench.policy import warm_start
from faultwise.rft.records import RunInfo, StepRecord, TrajectoryRecord

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, TrainerCallback

STATE_FILE = "faultbench_state.json"


@dataclass
class RunOutput:
    """What a run produced: its registry row, its records (in step order) and the policy it ended with."""

    info: RunInfo
    steps: list[StepRecord]
    trajectories: list[TrajectoryRecord]
    wall_time_s: float = 0.0
    policy: LlamaForCausalLM | None = None


def injectors_for(cfg: RunConfig) -> list[Injector]:
    """The fault injectors ``cfg`` asks for (none for a normal run)."""
    if cfg.fault_type == "none":
        return []
    return [make_injector(cfg.fault_type, cfg.strength, max(cfg.onset_step, 1))]


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
            trainer = self.c.trainer
            if args.sync_ref_model and state.global_step > 0 and trainer.ref_model is not None:
                # TRL saves no reference in a checkpoint: a resumed run would measure its KL against the warm
                # start until the next sync. A synced reference starts as the policy it resumes from.
                from trl.trainer.callbacks import SyncRefModelCallback

                SyncRefModelCallback.sync_target_model(kwargs["model"], trainer.ref_model, 1.0)

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


def checkpoints(workdir: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``checkpoint-<step>`` under ``workdir/trainer`` that has bench state, in step
    order."""
    root = Path(workdir) / "trainer"
    found = ((int(p.name.split("-")[1]), p) for p in root.glob("checkpoint-*") if (p / STATE_FILE).is_file())
    return sorted(found)


def latest_checkpoint(workdir: str | Path) -> Path | None:
    """The newest ``checkpoint-<step>`` under ``workdir/trainer`` that has bench state, or None."""
    found = checkpoints(workdir)
    return found[-1][1] if found else None


def run(
    cfg: RunConfig,
    workdir: str | Path,
    callbacks: Iterable[TrainerCallback] = (),
    listeners: Iterable[StepListener] = (),
    resume_from: str | Path | None = None,
    injectors: list[Injector] | None = None,
    cache_dir: str | Path | None = None,
) -> RunOutput:
    """Train one GRPO run (or continue one from ``resume_from``) and return its records.

    Args:
        cfg: the run's hyperparameters and injected fault.
        workdir: scratch directory; checkpoints go to ``workdir/trainer/checkpoint-<step>``.
        callbacks: extra TRL/transformers callbacks; one with an ``on_step_record`` method is also a listener.
        listeners: ``listener(record, trajectories, control, controller)`` after every step.
        resume_from: a checkpoint of an earlier run in ``workdir``: its records up to it are kept, and training
            continues from it with ``cfg``'s hyperparameters.
        injectors: the fault hooks to apply (default: the fault ``cfg`` names); remediation adds guards here.
        cache_dir: warm-start cache (default ``$FAULTWISE_CACHE/rft``).

    Example::

        out = run(RunConfig(seed=3, steps=6, save_every=3), "work/r")
        again = run(RunConfig(seed=3, steps=6, learning_rate=1e-4), "work/r", resume_from="work/r/trainer/checkpoint-3")
    """
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from datasets import Dataset
    from transformers.utils import logging as hf_logging
    from trl import GRPOConfig

    from faultwise.rft.faultbench.policy import load_policy

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    workdir = Path(workdir)
    torch.manual_seed(cfg.library_seed)
    model, tokenizer = load_policy(warm_start(cfg.policy_config(), cache_dir))
    callbacks = list(callbacks)
    listeners = list(listeners) + [cb.on_step_record for cb in callbacks if hasattr(cb, "on_step_record")]
    controller = BenchController(cfg, injectors if injectors is not None else injectors_for(cfg), listeners)
    if resume_from is not None:
        resume_from = Path(resume_from)
        state = json.loads((resume_from / STATE_FILE).read_text())
        controller.load_state(state, upto_step=int(resume_from.name.split("-")[1]))

    # TRL's reference sync, only where there is a reference to sync (TRL refuses one with beta 0)
    ref_sync = (
        {"sync_ref_model": True, "ref_model_sync_steps": cfg.ref_sync_steps, "ref_model_mixup_alpha": 1.0}
        if cfg.ref_sync_steps > 0 and cfg.beta > 0
        else {}
    )
    problems = T.sample_problems(cfg.steps * cfg.prompts_per_step * 2, seed=cfg.seed + 7919)
    dataset = Dataset.from_list([{"prompt": p.prompt} for p in problems])
    # TRL turns checkpointing on by default; transformers 5 renamed the setting and warns on the old name
    no_checkpointing = (
        {"activation_checkpointing": False}
        if "activation_checkpointing" in GRPOConfig.__dataclass_fields__
        else {"gradient_checkpointing": False}
    )
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
        **ref_sync,
        epsilon=cfg.epsilon,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        scale_rewards=cfg.scale_rewards,
        logging_steps=1,
        report_to="none",
        save_strategy="steps" if cfg.save_every else "no",
        save_steps=cfg.save_every or 500,
        seed=cfg.library_seed,
        data_seed=cfg.library_seed,
        use_cpu=True,
        disable_tqdm=True,
        log_completions=False,
        dataloader_num_workers=0,
        **no_checkpointing,
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
    return RunOutput(
        cfg.run_info(), controller.steps, controller.trajectories, time.perf_counter() - t0, trainer.model
    )

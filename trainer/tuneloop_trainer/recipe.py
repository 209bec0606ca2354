"""The fine-tuning recipe: setup → train → save_checkpoint / save_outputs → cleanup.

Loss normalisation: a step's loss is the mean over its units — trainable tokens for SFT,
pairs for DPO (objectives.py) — of its batchSize rows. Each micro-batch back-propagates
its loss sum · world / G, G being the step's unit count (known from the plan), so
gradient accumulation and DDP's gradient averaging give exactly the gradient of that
mean, however the rows are split.
"""
from __future__ import annotations

import contextlib
import math
import os
import time

import torch

from . import checkpointing as ckpt
from . import continued
from . import lora as lora_mod
from . import reference
from . import safetensors_io as st
from .data import split_micro
from .device import choose_runtime
from .distributed import Dist
from .errors import TrainerError
from .events import MetricLogger
from .hf_io import load_model
from .objectives import LossStep, make_objective
from .outputs import save_adapter, save_full_model
from .preflight import Prepared
from .schedule import make_scheduler, warmup_steps
from .spec import Spec


class Recipe:
    def __init__(self, spec: Spec, prepared: Prepared, logger: MetricLogger, dist: Dist, resume: bool, stop_reason):
        self.spec, self.hp, self.log, self.dist = spec, spec.hp, logger, dist
        self.config, self.plan, self.val = prepared.config, prepared.plan, prepared.val
        self.targets, self.micro, self.init = prepared.targets, prepared.micro, prepared.init
        self.lora = spec.trainable == "lora"
        self.objective = make_objective(spec.dpo, spec.hp.beta, self.lora)
        self.eval_batch_every = _eval_batch_every(spec.hp.evalBatchEvery, self.plan.total_steps, bool(self.val))
        self.resume, self.stop_reason = resume, stop_reason  # stop_reason(): None or "sigterm"/"sigint"
        self.step = 0  # optimizer steps completed
        self.tokens = 0  # real tokens processed, cumulative across resumes
        self.best_eval: float | None = None
        self.evals_without_improvement = 0
        self.last_checkpoint = -1
        self.started = False  # `started` emitted: failures report a step from then on

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        s, hp = self.spec, self.hp
        try:
            self.rt = choose_runtime(
                s.runtime.device,
                s.runtime.dtype,
                s.runtime.threads or self.dist.default_threads(),
                self.dist.local_rank,
            )
        except ValueError as e:
            raise TrainerError("INVALID_SPEC", str(e)) from None
        self.pad_id = self.config.pad_token_id if self.config.pad_token_id is not None else 0

        torch.manual_seed(hp.seed)  # LoRA init: identical on every rank
        _, lm = load_model(s.model_path)
        continued.apply_init(lm, self.config, s.init_weights, self.init)
        self.parameters = sum(p.numel() for p in lm.parameters())
        if self.lora:
            lora_mod.apply_lora(lm, self.targets, hp.loraRank, hp.loraAlpha, hp.loraDropout)
        self.lm = lm.to(self.rt.device).train()
        self.lm.gradient_checkpointing = hp.gradientCheckpointing
        self.trainable = [p for p in lm.parameters() if p.requires_grad]
        self.trainable_parameters = sum(p.numel() for p in self.trainable)
        self.optimizer = self._optimizer()
        self.warmup = warmup_steps(self.plan.total_steps, hp.warmupSteps, hp.warmupRatio)
        self.scheduler = make_scheduler(self.optimizer, hp.lrScheduler, self.warmup, self.plan.total_steps)
        torch.manual_seed(hp.seed + self.dist.rank)  # dropout stream, per rank
        if self.dist.rank == 0:
            if self.resume:
                ckpt.remove_stale_temporaries(s.checkpoints_dir)
            else:
                ckpt.remove_all(s.checkpoints_dir)
                reference.remove(s.checkpoints_dir)
        self.dist.barrier()
        if s.dpo and not self.lora:  # with the starting weights, before a checkpoint replaces them
            self.objective.tables = self._reference_tables()
        self.resumed_from = self._load_checkpoint() if self.resume else None
        self.forward = self.dist.wrap(LossStep(self.lm, self.objective), self.rt.device)
        if s.runtime.compile and hasattr(torch, "compile"):
            self.forward = torch.compile(self.forward)

    def _optimizer(self):
        decay = [p for p in self.trainable if p.ndim >= 2]  # no decay on norms and biases
        other = [p for p in self.trainable if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.hp.weightDecay}, {"params": other, "weight_decay": 0.0}]
        kwargs = {}
        supported = torch.optim.AdamW.__init__.__code__.co_varnames
        if self.rt.device.type == "cuda" and "fused" in supported:
            kwargs["fused"] = True
        elif "foreach" in supported:
            kwargs["foreach"] = True  # one kernel per op over all tensors: less Python per step
        return torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=self.spec.learning_rate, betas=(0.9, 0.999), eps=1e-8, **kwargs
        )

    def _reference_tables(self) -> dict:
        s, hp = self.spec, self.hp
        splits = {"train": (self.plan.shard, self.plan.epochs[0], self.plan.lengths)}
        if self.val:
            splits["validation"] = self.val
        fingerprint = {
            "maxSeqLength": hp.maxSeqLength,
            "model": s.model_path,
            "init": continued.fingerprint(s.init_weights, s.init_adapters),
            **{k: [sh.path, sh.num_examples, sh.num_tokens] for k, (sh, _, _) in splits.items()},
        }

        def compute(shard, rows, lengths):
            return reference.compute(self.lm, shard, rows, lengths, self.micro, self.rt, self.dist, self.pad_id)

        return reference.load_or_compute(s.checkpoints_dir, fingerprint, splits, compute, self.dist)

    def fingerprint(self) -> dict:
        hp, sh = self.hp, self.plan.shard
        return {
            "method": self.spec.method,
            "trainExamples": sh.num_examples,
            "trainTokens": sh.num_tokens,
            "modelType": self.config.model_type,
            "parameters": self.parameters,
            "epochs": hp.epochs,
            "batchSize": hp.batchSize,
            "maxSeqLength": hp.maxSeqLength,
            "packing": hp.packing,
            "seed": hp.seed,
            "learningRate": self.spec.learning_rate,
            "lrScheduler": hp.lrScheduler,
            "warmup": self.warmup,
            "lora": [hp.loraRank, hp.loraAlpha, self.targets] if self.lora else None,
            "dpo": [self.spec.trainable, hp.beta] if self.spec.dpo else None,
            "init": continued.fingerprint(self.spec.init_weights, self.spec.init_adapters),
        }

    # ---------------------------------------------------------------- train
    def train(self) -> str:
        """Runs to the end; returns "completed", "early_stopped", "stopped" or "parent_gone"."""
        total = self.plan.total_steps
        self.log.log(
            "started",
            jobId=self.spec.jobId,
            method=self.spec.method,
            trainable=self.spec.trainable,
            totalSteps=total,
            epochs=self.hp.epochs,
            resumedFromStep=self.resumed_from,
            device=str(self.rt.device),
            dtype=self.rt.dtype,
            parameters=self.parameters,
            trainableParameters=self.trainable_parameters,
            worldSize=self.dist.world,
            batchSize=self.hp.batchSize,
            microBatchSize=self.micro,
            maxSeqLength=self.hp.maxSeqLength,
            totalTokens=self.plan.total_tokens,
            threads=self.rt.threads,
        )
        self.started = True
        while self.step < total:
            reason = self._stop_requested()
            if reason:
                return self._stop(reason)
            started = time.perf_counter()
            metrics, grad_norm, lr, tokens = self._train_step(self.step)
            self.step += 1
            self.tokens += tokens
            dt = time.perf_counter() - started
            self.log.log(
                "step",
                step=self.step,
                totalSteps=total,
                epoch=round(self.plan.epoch_after(self.step - 1), 6),
                **metrics,
                learningRate=lr,
                gradNorm=grad_norm,
                tokens=self.tokens,
                tokensPerSecond=round(tokens / dt, 2) if dt > 0 else None,
                **self._validation_batch(),
            )
            epoch_end = self.plan.is_epoch_end(self.step - 1)
            early_stop = False
            if self.val and (epoch_end or (self.hp.evalEvery and self.step % self.hp.evalEvery == 0)):
                early_stop = self._eval_and_track()
            if epoch_end or (self.spec.checkpoints_every and self.step % self.spec.checkpoints_every == 0):
                self.save_checkpoint()
            if early_stop:
                return "early_stopped"
        return "completed"

    def _train_step(self, step: int) -> tuple[dict, float, float, int]:
        """One optimizer step; returns its metrics (objectives.py), gradient norm, rate, tokens."""
        rows, obj = self.plan.step_rows(step), self.objective
        micro = split_micro(rows, self.micro, self.dist.rank, self.dist.world)
        scale = self.dist.world / obj.units(self.plan.trainable, rows)
        sums = torch.zeros(obj.size, dtype=torch.float64, device=self.rt.device)
        for k, mrows in enumerate(micro):
            sync = k == len(micro) - 1
            with contextlib.nullcontext() if sync else self.dist.no_sync(self.forward):
                weight = scale
                if not mrows:  # this rank has no rows left in this step: a zero-weight pass keeps DDP in step
                    mrows, weight = obj.idle_rows(rows[0]), 0.0
                b = obj.collate(self.plan.shard, mrows, self.plan.lengths, self.pad_id).to(self.rt.device)
                ref = obj.reference(self.lm, b, mrows, "train", self.rt)
                with self.rt.autocast():
                    ls, batch_sums = self.forward(b.input_ids, b.position_ids, b.doc_ids, b.targets, b.target_mask, ref)
                (ls * weight).backward()
                if weight:
                    sums += batch_sums
        metrics = obj.fields(self.dist.all_sum(sums).tolist())
        loss = metrics["loss"]
        if not math.isfinite(loss):
            raise TrainerError(
                "NAN_LOSS",
                f"loss became {loss} at step {step + 1}; lower learningRate "
                f"(now {self.spec.learning_rate}) or maxGradNorm, or check the base model",
            )
        max_norm = self.hp.maxGradNorm if self.hp.maxGradNorm > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.trainable, max_norm))
        if not math.isfinite(grad_norm):
            raise TrainerError(
                "NAN_LOSS",
                f"gradient norm became {grad_norm} at step {step + 1}; lower learningRate "
                f"(now {self.spec.learning_rate}) or set maxGradNorm",
            )
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return metrics, grad_norm, lr, self.plan.step_tokens(step)

    @torch.no_grad()
    def evaluate(self, indices: list[int] | None = None) -> dict:
        """The objective's metrics over validation rows (all of them by default), in eval mode."""
        shard, rows, lengths = self.val
        obj = self.objective
        picked = [rows.row(r) for r in (range(len(rows)) if indices is None else indices)]
        sums = torch.zeros(obj.size, dtype=torch.float64, device=self.rt.device)
        self.lm.eval()
        try:
            for mrows in split_micro(picked, self.micro, self.dist.rank, self.dist.world):
                if not mrows:
                    continue
                b = obj.collate(shard, mrows, lengths, self.pad_id).to(self.rt.device)
                ref = obj.reference(self.lm, b, mrows, "validation", self.rt)
                with self.rt.autocast():
                    _, batch_sums = obj.compute(
                        self.lm, b.input_ids, b.position_ids, b.doc_ids, b.targets, b.target_mask, ref
                    )
                sums += batch_sums
        finally:
            self.lm.train()
        return obj.fields(self.dist.all_sum(sums).tolist())

    def _validation_batch(self) -> dict:
        """OpenAI's valid_loss: one validation batch every evalBatchEvery steps — batch j
        (j = step / evalBatchEvery) holds validation rows (j−1)·B … j·B−1, wrapping around."""
        every = self.eval_batch_every
        if not every or self.step % every:
            return {}
        n = len(self.val[1])
        size = min(self.hp.batchSize, n)
        start = (self.step // every - 1) * size
        metrics = self.evaluate([(start + i) % n for i in range(size)])
        return {"validLoss": metrics["loss"], "validTokenAccuracy": metrics["tokenAccuracy"]}

    def _eval_and_track(self) -> bool:
        metrics = self.evaluate()
        loss = metrics["loss"]
        self.log.log("eval", step=self.step, epoch=round(self.plan.epoch_after(self.step - 1), 6), **metrics)
        if self.best_eval is None or loss < self.best_eval:
            self.best_eval, self.evals_without_improvement = loss, 0
        else:
            self.evals_without_improvement += 1
        patience = self.hp.earlyStoppingPatience
        return bool(patience and self.evals_without_improvement >= patience)

    def _stop_requested(self) -> str | None:
        local = self.stop_reason() or ("parent_gone" if self.log.parent_gone.is_set() else None)
        codes = {None: 0, "sigint": 1, "sigterm": 2, "parent_gone": 3}
        agreed = self.dist.all_max(codes[local])  # every rank stops at the same step
        return {v: k for k, v in codes.items()}[agreed]

    def _stop(self, reason: str) -> str:
        if reason == "parent_gone":
            # No checkpoint: the latest steps' events never reached anyone, and a checkpoint
            # past the last reported step would make the resumed run skip those steps.
            return "parent_gone"
        path = self.save_checkpoint() if self.step > 0 else None
        self.log.log("stopped", step=self.step, reason=reason, checkpoint=path)
        return "stopped"

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> str:
        root, step = self.spec.checkpoints_dir, self.step
        final = ckpt.step_dir(root, step)
        if self.last_checkpoint == step:
            return final
        tmp = ckpt.tmp_dir(root, step)
        if self.dist.rank == 0:
            os.makedirs(root, exist_ok=True)
            os.makedirs(tmp, exist_ok=True)
        self.dist.barrier()
        ckpt.save_rng(os.path.join(tmp, f"rng-rank{self.dist.rank}.safetensors"))
        if self.dist.rank == 0:
            if self.lora:
                st.save_file(lora_mod.lora_state(self.lm), os.path.join(tmp, "adapter.safetensors"))
            else:
                st.save_file(
                    {n: p.detach() for n, p in self.lm.state_dict().items()}, os.path.join(tmp, "model.safetensors")
                )
            optimizer = ckpt.save_optimizer(self.optimizer.state_dict(), tmp)
            ckpt.write_state(
                tmp,
                {
                    "optimizer": optimizer,
                    "scheduler": self.scheduler.state_dict(),
                    "version": 1,
                    "step": step,
                    "tokens": self.tokens,
                    "epoch": self.plan.epoch_after(step - 1),
                    "bestEvalLoss": self.best_eval,
                    "evalsWithoutImprovement": self.evals_without_improvement,
                    "worldSize": self.dist.world,
                    "fingerprint": self.fingerprint(),
                },
            )
        self.dist.barrier()
        if self.dist.rank == 0:
            ckpt.publish(root, step, self.spec.checkpoints_keep)
            self.log.log("checkpoint", step=step, path=final)
        self.dist.barrier()
        self.last_checkpoint = step
        return final

    def _load_checkpoint(self) -> int | None:
        root = self.spec.checkpoints_dir
        found = ckpt.list_checkpoints(root)
        if not found:
            return None
        step, folder = found[-1]
        state = ckpt.read_state(folder)
        ckpt.check_fingerprint(state["fingerprint"], self.fingerprint(), folder)
        if self.lora:
            lora_mod.load_lora_state(self.lm, st.load_file(os.path.join(folder, "adapter.safetensors")))
        else:
            tensors = st.load_file(os.path.join(folder, "model.safetensors"))
            self.lm.load_state_dict({k: v.to(self.rt.device) for k, v in tensors.items()})
        self.optimizer.load_state_dict(ckpt.load_optimizer(folder, state["optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        rng = os.path.join(folder, f"rng-rank{self.dist.rank}.safetensors")
        if os.path.isfile(rng):  # absent when resuming with more processes than before
            ckpt.load_rng(rng)
        self.step, self.tokens = int(state["step"]), int(state["tokens"])
        self.best_eval, self.evals_without_improvement = state["bestEvalLoss"], int(state["evalsWithoutImprovement"])
        self.last_checkpoint = step
        return step

    # ---------------------------------------------------------------- outputs
    def save_outputs(self) -> dict:
        s, hp = self.spec, self.hp
        outputs = {"adapter": None, "model": None, "onnx": None}
        if self.dist.rank == 0:
            os.makedirs(s.output_dir, exist_ok=True)
            if self.lora:
                outputs["adapter"] = save_adapter(
                    self.lm, s.output_dir, self.targets, hp.loraRank, hp.loraAlpha, hp.loraDropout, s.model_path
                )
            if not self.lora or s.merge_lora or s.export_onnx:
                outputs["model"], outputs["onnx"] = save_full_model(
                    self.lm, s.output_dir, s.model_path, s.export_onnx, self.lora
                )
        self.dist.barrier()
        return outputs

    def cleanup(self) -> None:
        self.log.close()
        self.dist.close()


def _eval_batch_every(every: int | None, total_steps: int, has_validation: bool) -> int:
    """0 = no validation batches; null (auto) = about 20 over the run (≈ 2 % more compute)."""
    if not has_validation:
        return 0
    return math.ceil(total_steps / 20) if every is None else every

"""The shared training loop: seeded, checkpointing, resumable, with progress output, on CPU or
CUDA, with optional weight averaging. Each model's `mirsuite.models.<name>.train` provides
`build(args)`, `batches(args, rng)`, `loss(model, batch)`, `validate(model, args, dev)`, `SELECT`
(the validation metric that picks best.pt) and optionally `add_args(parser)`; this module runs
them.

    PYTHONPATH=xtask/python python3 -m mirsuite.train activity --data data/synth --out runs/activity
(or `cargo xtask train activity …`, which passes its arguments here).
"""

import argparse
import copy
import itertools
import json
import os
import random
import shutil
import sys
import time

import numpy as np
import torch

from . import models



def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def device_from(arg: str) -> torch.device:
    if arg == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(arg)


def save_checkpoint(path, model, opt, sched, step, rng, best, history, swa=None, teacher=None):
    tmp = path + ".tmp"
    torch.save(
        {
            "model": model.state_dict(),
            "swa": None if swa is None else {"model": swa.state_dict(), "n": swa.n},
            "teacher": None if teacher is None else teacher.model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "step": step,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "best": best,
            "history": history,
        },
        tmp,
    )
    os.replace(tmp, path)


class WeightAverage:
    """The running mean of a model's weights (stochastic weight averaging, Izmailov et al. 2018),
    taken every `--swa-every` steps from `--swa-start` on. BatchNorm statistics do not average:
    `finish` recomputes them for the averaged weights on training batches."""

    def __init__(self, model):
        self.avg = copy.deepcopy(model)
        self.n = 0

    def add(self, model):
        self.n += 1
        with torch.no_grad():
            for a, p in zip(self.avg.parameters(), model.parameters()):
                a.mul_((self.n - 1) / self.n).add_(p.detach(), alpha=1.0 / self.n)

    def state_dict(self):
        return self.avg.state_dict()

    def load(self, state):
        self.avg.load_state_dict(state["model"])
        self.n = state["n"]

    def finish(self, batches, dev, n_batches: int):
        """The averaged model, its BatchNorm running statistics re-estimated (torch's
        `update_bn`: a plain mean) over `n_batches` training batches."""
        torch.optim.swa_utils.update_bn(itertools.islice(batches, n_batches), self.avg, dev)
        return self.avg


class MeanTeacher:
    """The Mean Teacher (Tarvainen & Valpola 2017; the thesis' ch. 5 semi-supervised
    setting): a teacher whose weights are an exponential moving average of the student's
    (`--mt-ema`, 0.999), whose predictions on unlabeled data are the student's consistency
    targets, weighted by `--mt-weight` behind a sigmoid ramp-up over `--mt-ramp` steps
    (exp(−5 (1 − t)²)). The teacher is what validation scores and what best.pt holds."""

    def __init__(self, model, ema: float, weight: float, ramp: int):
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.ema, self.max_weight, self.ramp = ema, weight, max(1, ramp)

    def weight(self, step: int) -> float:
        t = min(1.0, step / self.ramp)
        return self.max_weight * float(np.exp(-5.0 * (1.0 - t) ** 2))

    def update(self, student, step: int):
        # Early on the average would lean on random initial weights: use the true mean until
        # 1/(1 − ema) steps have passed (Tarvainen's warm-up).
        a = min(self.ema, 1.0 - 1.0 / (step + 1))
        with torch.no_grad():
            for t, s in zip(self.model.parameters(), student.parameters()):
                t.mul_(a).add_(s.detach(), alpha=1.0 - a)
            for t, s in zip(self.model.buffers(), student.buffers()):
                t.copy_(s)


def fit(mod, args) -> dict:
    """Trains `mod`'s model for args.steps steps; returns the training summary."""
    rng = seed_everything(args.seed)
    dev = device_from(args.device)
    torch.set_num_threads(max(1, args.threads))
    model = mod.build(args).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if args.schedule == "onecycle" and args.steps < 3:
        raise SystemExit(f"--steps {args.steps}: the onecycle schedule needs at least 3 steps (or --schedule constant)")
    if args.schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    else:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=max(0.1, 2.0 / max(args.steps, 4)))  # ≥ 2 warm-up steps (short smoke runs)
    if args.init:
        # Weights only (a run's last.pt or best.pt); optimizer and schedule start fresh.
        model.load_state_dict(torch.load(args.init, map_location=dev, weights_only=False)["model"])
        print(f"weights from {args.init}", flush=True)
    swa = WeightAverage(model) if args.swa_start >= 0 else None
    teacher = None
    if args.mt_weight > 0:
        if swa is not None:
            raise SystemExit("--mt-weight and --swa-start do not combine (the teacher already averages the weights)")
        if not hasattr(mod, "consistency"):
            raise SystemExit(f"model {args.model} has no Mean Teacher consistency loss")
        teacher = MeanTeacher(model, args.mt_ema, args.mt_weight, args.mt_ramp if args.mt_ramp is not None else int(0.4 * args.steps))
    os.makedirs(args.out, exist_ok=True)
    # The run records the data it was trained on (export writes it into the model card).
    info = os.path.join(args.data, "dataset.json")
    if os.path.exists(info):
        shutil.copyfile(info, os.path.join(args.out, "dataset.json"))
    ckpt = os.path.join(args.out, "last.pt")
    step, best, history = 0, None, []
    if args.resume and os.path.exists(ckpt):
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, best, history = state["step"], state["best"], state["history"]
        if swa is not None and state.get("swa"):
            swa.load(state["swa"])
        if teacher is not None and state.get("teacher"):
            teacher.model.load_state_dict(state["teacher"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {ckpt} at step {step}", flush=True)
    args.start_step = step
    batches = mod.batches(args, rng)
    t0, seen, running, start_step = time.time(), 0, 0.0, step
    cons = 0.0
    model.train()
    while step < args.steps:
        batch = next(batches)
        batch = [b.to(dev) for b in batch]
        loss = mod.loss(model, batch)
        if teacher is not None:
            c = mod.consistency(model, teacher.model, batch)
            cons = 0.98 * cons + 0.02 * c.item() if step > start_step else c.item()
            loss = loss + teacher.weight(step) * c
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if teacher is not None:
            teacher.update(model, step)
        step += 1
        seen += batch[0].shape[0]
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if swa is not None and step >= args.swa_start and (step - args.swa_start) % args.swa_every == 0:
            swa.add(model)
        if step % args.log_every == 0 or step == args.steps:
            rate = seen / max(time.time() - t0, 1e-9)
            eta = (args.steps - step) * (time.time() - t0) / max(step - start_step, 1)
            mt = f" consistency {cons:.4f} (weight {teacher.weight(step):.2f})" if teacher is not None else ""
            print(f"step {step}/{args.steps} loss {running:.4f}{mt} lr {sched.get_last_lr()[0]:.2e} {rate:.0f} ex/s eta {eta / 60:.1f} min", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            # With a Mean Teacher the teacher is the model the run produces.
            scored = teacher.model if teacher is not None else model
            scored.eval()
            with torch.no_grad():
                metrics = mod.validate(scored, args, dev)
            model.train()
            metrics["step"] = step
            history.append(metrics)
            score = metrics[mod.SELECT]
            print("validation: " + " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()), flush=True)
            if best is None or score > best:
                best = score
                torch.save({"model": scored.state_dict(), "args": vars(args), "metrics": metrics}, os.path.join(args.out, "best.pt"))
            save_checkpoint(ckpt, model, opt, sched, step, rng, best, history, swa, teacher)
    if swa is not None:
        if swa.n == 0:
            raise SystemExit(f"--swa-start {args.swa_start} is past the last step ({step}): nothing was averaged")
        # What the run produces is the averaged model: it becomes best.pt whatever the
        # single-snapshot validations scored (they stay in the history for comparison).
        avg = swa.finish(batches, dev, args.swa_bn_batches)
        avg.eval()
        with torch.no_grad():
            metrics = mod.validate(avg, args, dev)
        metrics.update(step=step, swa_snapshots=swa.n)
        history.append(metrics)
        best = metrics[mod.SELECT]
        print("validation (weight average of " + str(swa.n) + " snapshots): " + " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()), flush=True)
        torch.save({"model": avg.state_dict(), "args": vars(args), "metrics": metrics}, os.path.join(args.out, "best.pt"))
    summary = {"model": args.model, "steps": step, "best": best, "select": mod.SELECT, "history": history, "seconds": time.time() - t0, "device": str(dev)}
    with open(os.path.join(args.out, "train.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=models.NAMES)
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--schedule", choices=["onecycle", "constant"], default="onecycle", help="learning-rate schedule (constant: --lr throughout, for weight averaging)")
    ap.add_argument("--init", default=None, help="start from this checkpoint's weights (fresh optimizer and schedule)")
    ap.add_argument("--swa-start", type=int, default=-1, help="average the weights from this step on; the average becomes best.pt (-1: off)")
    ap.add_argument("--swa-every", type=int, default=100, help="steps between averaged snapshots")
    ap.add_argument("--swa-bn-batches", type=int, default=200, help="training batches that re-estimate BatchNorm statistics for the averaged weights")
    ap.add_argument("--mt-weight", type=float, default=0.0, help="Mean Teacher: the consistency loss' weight after the ramp-up (0: off); needs the model's unlabeled data (activity: --unlabeled DIR)")
    ap.add_argument("--mt-ema", type=float, default=0.999, help="Mean Teacher: the teacher's exponential moving average of the student's weights")
    ap.add_argument("--mt-ramp", type=int, default=None, help="Mean Teacher: steps of the sigmoid ramp-up of the consistency weight (default 40 %% of --steps)")
    ap.add_argument("--max-songs", type=int, default=0, help="use at most this many songs per split (smoke runs)")
    known, _ = ap.parse_known_args(argv)
    mod = models.module(known.model, "train")
    if hasattr(mod, "add_args"):
        mod.add_args(ap)
    args = ap.parse_args(argv)
    args.out = args.out or os.path.join("runs", args.model)
    summary = fit(mod, args)
    print(f"best {summary['select']} {summary['best']:.4f}; checkpoints in {args.out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""The shared training loop: seeded, checkpointing, resumable, with progress output, on CPU or
CUDA. Model modules provide `build(args)`, `batches(args, rng)`, `loss(model, batch)` and
`validate(model, args)`; this module runs them.

    PYTHONPATH=xtask/python python3 -m mirsuite.train activity --data data/synth --out runs/activity
(or `cargo xtask train activity …`, which passes its arguments here).
"""

import argparse
import importlib
import json
import os
import random
import shutil
import sys
import time

import numpy as np
import torch

MODELS = {"activity": "mirsuite.activity"}


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def device_from(arg: str) -> torch.device:
    if arg == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(arg)


def save_checkpoint(path, model, opt, sched, step, rng, best, history):
    tmp = path + ".tmp"
    torch.save(
        {
            "model": model.state_dict(),
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


def fit(mod, args) -> dict:
    """Trains `mod`'s model for args.steps steps; returns the training summary."""
    rng = seed_everything(args.seed)
    dev = device_from(args.device)
    torch.set_num_threads(max(1, args.threads))
    model = mod.build(args).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=max(0.1, 2.0 / max(args.steps, 4)))  # ≥ 2 warm-up steps (short smoke runs)
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
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {ckpt} at step {step}", flush=True)
    args.start_step = step
    batches = mod.batches(args, rng)
    t0, seen, running, start_step = time.time(), 0, 0.0, step
    model.train()
    while step < args.steps:
        batch = next(batches)
        batch = [b.to(dev) for b in batch]
        loss = mod.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        step += 1
        seen += batch[0].shape[0]
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % args.log_every == 0 or step == args.steps:
            rate = seen / max(time.time() - t0, 1e-9)
            eta = (args.steps - step) * (time.time() - t0) / max(step - start_step, 1)
            print(f"step {step}/{args.steps} loss {running:.4f} lr {sched.get_last_lr()[0]:.2e} {rate:.0f} ex/s eta {eta / 60:.1f} min", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                metrics = mod.validate(model, args, dev)
            model.train()
            metrics["step"] = step
            history.append(metrics)
            score = metrics[mod.SELECT]
            print("validation: " + " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()), flush=True)
            if best is None or score > best:
                best = score
                torch.save({"model": model.state_dict(), "args": vars(args), "metrics": metrics}, os.path.join(args.out, "best.pt"))
            save_checkpoint(ckpt, model, opt, sched, step, rng, best, history)
    summary = {"model": args.model, "steps": step, "best": best, "select": mod.SELECT, "history": history, "seconds": time.time() - t0, "device": str(dev)}
    with open(os.path.join(args.out, "train.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=sorted(MODELS))
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
    ap.add_argument("--max-songs", type=int, default=0, help="use at most this many songs per split (smoke runs)")
    known, _ = ap.parse_known_args(argv)
    mod = importlib.import_module(MODELS[known.model])
    if hasattr(mod, "add_args"):
        mod.add_args(ap)
    args = ap.parse_args(argv)
    args.out = args.out or os.path.join("runs", args.model)
    summary = fit(mod, args)
    print(f"best {summary['select']} {summary['best']:.4f}; checkpoints in {args.out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""The drum model's hooks for the shared training loop (`mirsuite.train`): DrummerNet's
unsupervised analysis–synthesis training on drum stems, no transcription labels.

    cargo xtask drum-templates --out data/drum-templates
    cargo xtask train drums --data data/sep --templates data/drum-templates --steps 3000 --out runs/drums

Loss: the L1 distance between the onset-enhanced pseudo-CQT of each crop and of its rebuild (the
net's sparse activations played by the fixed synthesizer with a kit drawn per crop), on the
log1p spectrogram plus `--onset-weight` × on its positive time difference. The activations of
the first and last frames (without their context) and the audio they would rebuild are left
out. Validation (the only use of the onset labels besides threshold tuning): onset F with the
default peak-picking threshold on the val drum stems; best.pt by the mean F of kick, snare and
hi-hat.

`--label-weight W` > 0 is the supervised comparison variant, not DrummerNet: it adds W × a
class-balanced binary cross-entropy between each class's activation (the sum of its
components', at most 1) and the renderer's onset frames (the frames next to an onset are left
out of the loss: the time-wise sparsemax keeps one peak per onset); `--recon-weight 0` drops
the rebuild loss for a purely supervised model.

`--val-kits N` holds N training kits out of training (`data.held_out_kits`: seeded, spread over
the SoundFonts and the Hydrogen kits) and selects best.pt on their songs; the export tunes the
peak picker on the same songs. The val split shares the training kits, so it cannot show what
helps on a kit the model never heard (the augmentation runs scored lower there and higher on
the held-out test kits).

`--teacher RUN` is the student-teacher variant (the research's unlabeled-data idea): a trained
run (the unsupervised DrummerNet) labels every crop on the fly and the student learns its soft
class activations as soft labels of the supervised variant's loss (`--teacher-weight` × that
BCE; no renderer labels), optionally on more audio (`--extra`) and more varied audio than the
teacher saw (`--speed`, `--tilt`).

`--adapt DIR` fine-tunes an exported model (`--init`, default models/drums/weights.pt) on a
folder of unlabeled drum recordings: the rebuild loss (with the training kits, or the user's
one-shots with `--kit DIR`) plus `--teacher-weight` × the relative L1 distance between the
student's activations and the frozen base model's on the same crops (its soft targets), which
keeps what the labels taught while the rebuild fits the new kit; best.pt by that loss on the
held-out last 20 % of each file.
"""

import os

import torch
import torch.nn.functional as F

from . import metrics
from .config import COMPONENT_CLASS, HOP, LOOKAHEAD, RATE, SPARSE_HALF
from . import data
from .data import load_songs, load_templates
from .net import DrumNet, OnsetCQT, activations, synthesize

SELECT = "f_mean"


def add_args(ap):
    ap.add_argument("--templates", default="data/drum-templates", help="folder of `cargo xtask drum-templates`")
    ap.add_argument("--crop", type=float, default=4.0, help="seconds per training crop")
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--onset-weight", type=float, default=1.0, help="weight of the onset-enhanced term")
    ap.add_argument("--recon-weight", type=float, default=1.0, help="weight of the unsupervised rebuild loss")
    ap.add_argument("--label-weight", type=float, default=0.0, help="weight of the supervised onset loss (0: DrummerNet, no labels)")
    ap.add_argument("--pos-weight", type=float, default=20.0, help="supervised loss: weight of an onset frame against a frame without one")
    ap.add_argument("--speed", type=float, default=0.0, help="augmentation: crops play up to this fraction faster or slower (varispeed; 0: off)")
    ap.add_argument("--tilt", type=float, default=0.0, help="augmentation: spectral tilt around 1 kHz of up to ± this many dB (0: off)")
    ap.add_argument("--adapt", default=None, metavar="DIR", help="fine-tune the shipped model (--init, default models/drums/weights.pt) without labels on a folder of your own drum recordings (WAV)")
    ap.add_argument("--teacher-weight", type=float, default=1.0, help="with --adapt or --teacher: weight of the pull toward the teacher's activations on the same crops (its soft targets; --adapt's teacher is the base model; 0: the rebuild alone)")
    ap.add_argument("--kit", default=None, metavar="DIR", help="with --adapt: your kit's one-shots (kick.wav, snare.wav, hihat.wav, open-hihat.wav, tom.wav, crash.wav, ride.wav) as the synthesizer's only kit")
    ap.add_argument("--val-songs", type=int, default=24, help="val songs scored at each validation")
    ap.add_argument("--val-kits", type=int, default=0, help="hold this many training kits out of training and select and tune on their songs (0: the val split, which shares the training kits)")
    ap.add_argument("--extra", action="append", default=[], metavar="DIR", help="with --teacher: another rendered dataset whose training drum stems the student also learns from (unlabeled: their onsets are never read)")
    ap.add_argument("--teacher", default=None, metavar="RUN", help="student-teacher: a trained run (its best.pt) whose activations on each crop are the student's soft targets, weighted by --teacher-weight (no labels needed)")


def build(args):
    global SELECT
    model = DrumNet(width=args.width)
    if args.adapt:
        # DrummerNet's own idea: the rebuild needs no labels, so the user's recordings are
        # training data. The run starts from the shipped weights and is selected by the
        # adaptation loss on the held-out end of each file.
        if args.label_weight > 0 or args.recon_weight <= 0:
            raise SystemExit("--adapt trains without labels: it needs --recon-weight > 0 and no --label-weight")
        if args.init is None:
            args.init = "models/drums/weights.pt"
        if not os.path.exists(args.init):
            raise SystemExit(f"{args.init} not found: --adapt fine-tunes an exported model's weights.pt (cargo xtask export drums)")
        SELECT = "neg_adapt_loss"
        # The base model, frozen, as the teacher whose activations anchor the student (kept
        # out of the module tree: not trained, not saved).
        teacher = DrumNet(width=args.width)
        teacher.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=False)["model"], strict=False)
        for p in teacher.parameters():
            p.requires_grad_(False)
        model.__dict__["teacher"] = teacher.eval()
    else:
        if args.extra and (args.label_weight > 0 or not args.teacher):
            raise SystemExit("--extra is unlabeled audio for the student-teacher variant: it needs --teacher and no --label-weight")
        init_stats(model, args)
        if args.teacher:
            # Student-teacher (the research's unlabeled-data idea): a trained model labels the
            # crops on the fly and the student learns its soft activations.
            from .metrics import load_run

            teacher, _ = load_run(args.teacher)
            for p in teacher.parameters():
                p.requires_grad_(False)
            model.__dict__["teacher"] = teacher.eval()
    n = int(0.5 * RATE)
    model.register_buffer("templates", data.load_kit(args.kit, n) if args.kit else load_templates(args.templates), persistent=False)
    model.cqt = OnsetCQT()
    model.onset_weight = args.onset_weight
    model.recon_weight, model.label_weight, model.pos_weight = args.recon_weight, args.label_weight, args.pos_weight
    model.teacher_weight = args.teacher_weight if (args.adapt or args.teacher) else 0.0
    # A student trained from scratch on the teacher's soft labels (--adapt's starts from the base).
    model.distil = bool(args.teacher) and not args.adapt
    return model


@torch.no_grad()
def init_stats(model, args, songs=8):
    """The input affine starts as the per-band standardization of a few training stems."""
    from .data import features

    x = torch.cat([torch.from_numpy(features(s.audio())) for s in load_songs(args.data, "train", songs)], 1)
    model.mu.copy_(x.mean(1).reshape(1, -1, 1))
    model.sd.copy_(1.0 / x.std(1).clamp(min=1e-3).reshape(1, -1, 1))


def loss(model, batch):
    feat, x, kits, labels = batch
    logits, _ = model(feat)
    act = activations(logits, model.log_gain, model.lookahead)
    total = 0.0
    if model.recon_weight > 0:
        tmpl = model.templates.to(x.device)[kits]
        n = x.shape[1]
        y = synthesize(act, tmpl, n)
        # Audio whose activations had no context: SPARSE_HALF frames at the start, LOOKAHEAD +
        # SPARSE_HALF at the end.
        lo, hi = SPARSE_HALF * HOP, n - (LOOKAHEAD + SPARSE_HALF) * HOP
        cx, ox = model.cqt(x[:, lo:hi])
        cy, oy = model.cqt(y[:, lo:hi])
        total = model.recon_weight * ((cx - cy).abs().mean() + model.onset_weight * (ox - oy).abs().mean())
    if model.label_weight > 0:
        total = total + model.label_weight * label_loss(act, logits[:, :, model.lookahead :], labels, model.pos_weight)
    if model.teacher_weight > 0:
        teacher = model.__dict__["teacher"].to(feat.device)
        with torch.no_grad():
            tl, _ = teacher(feat)
            ta = activations(tl, teacher.log_gain, teacher.lookahead)
        if model.distil:
            # Student-teacher from scratch: the teacher's class activations (each at most 1) are
            # soft labels for the supervised loss. A relative L1 on the activations gave a
            # student that starts all-"nothing" no gradient at all (sparsemax is flat outside
            # its support: the loss sat at exactly 1.0); the label loss' logit term has one.
            total = total + model.teacher_weight * label_loss(act, logits[:, :, model.lookahead :], class_activations(ta), model.pos_weight)
        else:
            # --adapt: relative L1 to the base model's activations (the student starts from the
            # base model's weights): 1 when it has moved as far as the activations are large.
            total = total + model.teacher_weight * (act - ta).abs().sum() / ta.abs().sum().clamp(min=1e-6)
    return total


def class_activations(act):
    """Component activations [B, K, T] → class activations [B, classes, T] (each the sum of its
    components', clamped to at most 1)."""
    out = act.new_zeros(act.shape[0], max(COMPONENT_CLASS) + 1, act.shape[2])
    for k, c in enumerate(COMPONENT_CLASS):
        out[:, c] = out[:, c] + act[:, k]
    return out.clamp(max=1.0)


def label_loss(act, z, labels, pos_weight):
    """Class-balanced BCE between the class activations and the onset frames, over the frames
    with context; the neighbours of an onset frame are not scored. Sparsemax has no gradient
    for a component outside its support, so a component pushed out everywhere early would
    never come back: the same BCE on sigmoid(class logit − "nothing" logit) keeps every class
    alive (the class logit is the largest of its components')."""
    t = z.shape[2]
    cls = class_activations(act)
    near = F.max_pool1d(labels, 3, 1, 1) - labels  # 1 beside an onset frame
    w = (1.0 - near) * (1.0 + (pos_weight - 1.0) * labels)
    w[:, :, :SPARSE_HALF] = 0.0
    w[:, :, t - SPARSE_HALF :] = 0.0
    w = w[:, :, :t]
    y = labels[:, :, :t]
    p = cls[:, :, :t].clamp(1e-4, 1 - 1e-4)
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    zc = torch.stack([z[:, [k for k, c in enumerate(COMPONENT_CLASS) if c == ci]].amax(1) for ci in range(labels.shape[1])], 1)
    aux = F.binary_cross_entropy_with_logits(zc - z[:, -1:], y, reduction="none")
    return ((w * (bce + aux)).sum()) / w.sum().clamp(min=1.0)


def batches(args, rng):
    return data.adapt_batches(args, rng) if args.adapt else data.batches(args, rng)


_VAL = {}


def validate(model, args, dev):
    if args.adapt:
        return validate_rebuild(model, args, dev)
    if args.data not in _VAL:
        _VAL[args.data] = data.selection_songs(args.data, args.val_kits, args.val_songs)
        print(f"selecting on {len(_VAL[args.data])} songs" + (f" of the held-out kits {data.held_out_kits(args.data, args.val_kits)}" if args.val_kits else " of the val split"), flush=True)
    return metrics.quick_scores(model.cpu() if dev.type != "cpu" else model, _VAL[args.data])


@torch.no_grad()
def validate_rebuild(model, args, dev):
    """--adapt: the adaptation loss (rebuild + teacher pull, no labels) on fixed crops of the
    held-out end of each file."""
    import numpy as np

    if "adapt" not in _VAL:
        _, held = data.adapt_audio(args.adapt)
        xs = data.crops(held, int(args.crop * RATE), 16, np.random.default_rng(0))
        feats = torch.from_numpy(np.stack([data.features(x) for x in xs]))
        _VAL["adapt"] = (feats, torch.from_numpy(np.stack(xs)))
    feats, xs = _VAL["adapt"]
    n_kits = model.templates.shape[0]
    total = 0.0
    for i in range(len(xs)):
        b = [feats[i : i + 1].to(dev), xs[i : i + 1].to(dev), torch.tensor([i % n_kits]), torch.zeros(1)]
        total += float(loss(model, b))
    value = total / len(xs)
    return {"adapt_loss": value, "neg_adapt_loss": -value}

"""The measure VAE (AR-VAE's MeasureVAE, reshaped for tract and the plugin's worker thread).

Encoder: token embedding → 2-layer bidirectional GRU → the last hidden states of both layers and
directions → two MLP heads, the latent mean and log-σ (latent 32).

Decoder: a 2-layer GRU over 24 ticks whose input at every tick is the previous token's embedding
and z itself (z also sets the initial state), so each step sees the latent (the reference
conditions only the initial state of a beat-level RNN; feeding z at every tick is the usual
stronger conditioning for short sequences, and keeps the decoder one flat loop that exports as
a fixed unrolled graph). Training alternates per batch between teacher forcing and feeding back
its own argmax (probability 0.5, as the reference), so greedy decoding is what it learned.

Exported decoding is Gumbel-max sampling: token = argmax(logits / T + g) with the Gumbel noise g
an input; g = 0 is greedy decoding (the plugin's temperature 0), so one graph serves both and
the randomness stays in the plugin's seeded generator.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tokens import TICKS, VOCAB


class MeasureVAE(nn.Module):
    def __init__(self, vocab: int = VOCAB, ticks: int = TICKS, latent: int = 32, hidden: int = 128, emb: int = 16, dropout: float = 0.3):
        super().__init__()
        self.vocab, self.ticks, self.latent, self.hidden = vocab, ticks, latent, hidden
        self.enc_emb = nn.Embedding(vocab, emb)
        self.enc_rnn = nn.GRU(emb, hidden, num_layers=2, bidirectional=True, batch_first=True, dropout=dropout)
        self.mu = nn.Sequential(nn.Linear(4 * hidden, 2 * hidden), nn.SELU(), nn.Linear(2 * hidden, latent))
        self.log_sigma = nn.Sequential(nn.Linear(4 * hidden, 2 * hidden), nn.SELU(), nn.Linear(2 * hidden, latent))
        self.dec_emb = nn.Embedding(vocab + 1, emb)  # index `vocab`: the start symbol
        self.dec_init = nn.Linear(latent, 2 * hidden)
        self.dec_rnn = nn.GRU(emb + latent, hidden, num_layers=2, batch_first=True, dropout=dropout)
        self.out = nn.Linear(hidden, vocab)

    def encode(self, tokens: torch.Tensor):
        """Tokens `[B, 24]` → (mean, log σ), each `[B, latent]`."""
        _, h = self.enc_rnn(self.enc_emb(tokens))  # h: [4, B, hidden]
        h = h.transpose(0, 1).reshape(tokens.shape[0], -1)
        return self.mu(h), self.log_sigma(h)

    def _h0(self, z):
        return torch.tanh(self.dec_init(z)).view(z.shape[0], 2, self.hidden).transpose(0, 1).contiguous()

    def decode_teacher(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits `[B, 24, V]` with the true previous tokens as inputs."""
        start = torch.full((tokens.shape[0], 1), self.vocab, dtype=tokens.dtype, device=tokens.device)
        prev = torch.cat([start, tokens[:, :-1]], dim=1)
        x = torch.cat([self.dec_emb(prev), z[:, None, :].expand(-1, self.ticks, -1)], dim=2)
        y, _ = self.dec_rnn(x, self._h0(z))
        return self.out(y)

    def decode_free(self, z: torch.Tensor, noise: torch.Tensor | None = None, temperature: torch.Tensor | float = 1.0):
        """Autoregressive decoding: (logits `[B, 24, V]`, tokens `[B, 24]`), each step fed the
        previous step's argmax(logits / T + noise) (noise None: greedy)."""
        b = z.shape[0]
        h = self._h0(z)
        prev = torch.full((b,), self.vocab, dtype=torch.long, device=z.device)
        logits, toks = [], []
        for t in range(self.ticks):
            x = torch.cat([self.dec_emb(prev), z], dim=1)[:, None, :]
            y, h = self.dec_rnn(x, h)
            l = self.out(y[:, 0])
            logits.append(l)
            score = l if noise is None else l / temperature + noise[:, t]
            prev = score.argmax(dim=1)
            toks.append(prev)
        return torch.stack(logits, dim=1), torch.stack(toks, dim=1)

    def decode_straight_through(self, z: torch.Tensor) -> torch.Tensor:
        """Greedy autoregressive decoding with straight-through one-hot tokens `[B, 24, V]`: the
        forward pass is the argmax (what the plugin plays), the gradient that of the softmax, so
        a loss on what the decoded measure *is* reaches the decoder."""
        b = z.shape[0]
        h = self._h0(z)
        x_prev = self.dec_emb.weight[self.vocab].expand(b, -1)
        out = []
        for _ in range(self.ticks):
            y, h = self.dec_rnn(torch.cat([x_prev, z], dim=1)[:, None, :], h)
            p = F.softmax(self.out(y[:, 0]), dim=1)
            hard = F.one_hot(p.argmax(dim=1), self.vocab).to(p.dtype)
            st = hard + p - p.detach()
            out.append(st)
            x_prev = st @ self.dec_emb.weight[: self.vocab]
        return torch.stack(out, dim=1)

    def encode_judge(self, onehot: torch.Tensor) -> torch.Tensor:
        """The latent mean of one-hot (or straight-through) tokens `[B, 24, V]` through the
        encoder with its weights held fixed (gradients reach the input only): the encoder acts
        as the judge of what a decoded measure is, and is not trained to agree with it."""
        params = {k: v.detach() for k, v in self.named_parameters() if k.startswith(("enc_", "mu."))}
        emb = onehot @ params["enc_emb.weight"]
        rnn = {k[len("enc_rnn.") :]: v for k, v in params.items() if k.startswith("enc_rnn.")}
        mode = self.enc_rnn.training
        self.enc_rnn.train(False)  # the judge reads without dropout
        _, h = torch.func.functional_call(self.enc_rnn, rnn, (emb,))
        self.enc_rnn.train(mode)
        h = h.transpose(0, 1).reshape(onehot.shape[0], -1)
        head = {k[len("mu.") :]: v for k, v in params.items() if k.startswith("mu.")}
        return torch.func.functional_call(self.mu, head, (h,))

    def forward(self, tokens: torch.Tensor, teacher: bool = True):
        mu, log_sigma = self.encode(tokens)
        z = mu + torch.randn_like(mu) * log_sigma.exp() if self.training else mu
        logits = self.decode_teacher(z, tokens) if teacher else self.decode_free(z)[0]
        return logits, mu, log_sigma, z


def cycle_loss(model: MeasureVAE, z: torch.Tensor, dims: int) -> torch.Tensor:
    """Slider consistency: each regularized dim of every latent is replaced by that dim of
    another measure in the batch (an independent permutation per dim, the way a user moves
    sliders independently), the result decoded greedily (straight-through) and re-encoded by the
    fixed encoder; the loss is the mean absolute error between the re-encoded dims and the values
    asked for. The encoder orders each dim by its attribute (AR), so this asks the decoder to
    produce measures whose attribute follows the slider (trained into the decoder only: z is
    detached and the encoder judges with fixed weights)."""
    target = z.detach().clone()
    b = z.shape[0]
    for r in range(dims):
        target[:, r] = target[torch.randperm(b, device=z.device), r]
    again = model.encode_judge(model.decode_straight_through(target))
    return (again[:, :dims] - target[:, :dims]).abs().mean()


def soft_attributes(onehot: torch.Tensor) -> torch.Tensor:
    """`tokens.attributes` of (straight-through) one-hot measures `[B, 24, V]` as a
    differentiable function: the same values as the hard attributes in the forward pass (the
    one-hots are exact), gradients through the one-hot entries (to the decoder's softmax).
    Columns: rhythmic complexity, pitch range, note density, contour."""
    from .tokens import FIRST_PITCH, RANGE_NORM, WEIGHTS

    b, t, v = onehot.shape
    onset = onehot[:, :, FIRST_PITCH:].sum(dim=2)  # [B, T], 1 at a note's first tick
    pitch_of = torch.arange(v - FIRST_PITCH, dtype=onehot.dtype, device=onehot.device)
    pitch = (onehot[:, :, FIRST_PITCH:] * pitch_of).sum(dim=2)  # token pitch index, 0 off onsets
    n = onset.sum(dim=1)
    w = torch.as_tensor(WEIGHTS, dtype=onehot.dtype, device=onehot.device)
    rc = (onset * w).sum(dim=1) / w.sum()
    nd = n / t
    big = float(v)
    hi = (pitch * onset - big * (1 - onset)).amax(dim=1)
    lo = (pitch * onset + big * (1 - onset)).amin(dim=1)
    several = (n > 1.5).to(onehot.dtype)
    pr = several * (hi - lo) / RANGE_NORM
    # First and last onsets: weights that are exactly one-hot for hard tokens.
    before = torch.cumsum(onset, dim=1) - onset  # onsets strictly before each tick
    after = torch.flip(torch.cumsum(torch.flip(onset, [1]), dim=1), [1]) - onset
    first = onset * (before < 0.5).to(onehot.dtype)
    last = onset * (after < 0.5).to(onehot.dtype)
    contour = several * ((last * pitch).sum(dim=1) - (first * pitch).sum(dim=1)) / RANGE_NORM
    return torch.stack([rc, pr, nd, contour], dim=1)


def attribute_loss(model: MeasureVAE, z: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
    """Slider fidelity against the true attributes: each regularized dim of every latent is
    replaced by that dim of another measure of the batch (an independent permutation per dim,
    as a user moves sliders independently), the result decoded greedily (straight-through),
    and the decoded measure's attributes (`soft_attributes`, exact in value) are asked to equal
    the donor measures' attributes (mean absolute error, in the decoder only: z is detached).
    Unlike `cycle_loss` no learned judge is asked, so there is nothing to fool."""
    dims = attrs.shape[1]
    target_z = z.detach().clone()
    target_a = torch.empty_like(attrs)
    b = z.shape[0]
    for r in range(dims):
        perm = torch.randperm(b, device=z.device)
        target_z[:, r] = target_z[perm, r]
        target_a[:, r] = attrs[perm, r]
    got = soft_attributes(model.decode_straight_through(target_z))
    return (got - target_a).abs().mean()


def kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, σ) ‖ N(0, I)), summed over latent dims, mean over the batch."""
    return (0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1) - log_sigma).sum(dim=1).mean()


def ar_loss(z_r: torch.Tensor, a: torch.Tensor, delta: float = 10.0) -> torch.Tensor:
    """AR-VAE's attribute regularization for one latent dim and one attribute over a batch:
    mean |tanh(δ·(z_i − z_j)) − sign(a_i − a_j)| over all pairs."""
    dz = z_r[:, None] - z_r[None, :]
    da = a[:, None] - a[None, :]
    return F.l1_loss(torch.tanh(delta * dz), torch.sign(da))


class Encoder(nn.Module):
    """Exported encoder: tokens `[B, 24]` as float32 (the runtime's tensors are all f32; token
    ids are small integers, exact in f32) → latent mean `[B, latent]`."""

    def __init__(self, vae: MeasureVAE):
        super().__init__()
        self.vae = vae

    def forward(self, tokens):
        return self.vae.encode(tokens.long())[0]


class Decoder(nn.Module):
    """Exported decoder: z `[B, latent]`, Gumbel noise `[B, 24, V]`, temperature `[1]` →
    tokens `[B, 24]` (float32 token ids) and the step logits `[B, 24, V]`."""

    def __init__(self, vae: MeasureVAE):
        super().__init__()
        self.vae = vae

    def forward(self, z, noise, temperature):
        logits, toks = self.vae.decode_free(z, noise, temperature)
        return toks.float(), logits

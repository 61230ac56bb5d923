"""The forward process, the likelihood bound it gives, and held-out scoring: one implementation for
training, evaluation and the app (training and evaluation import it; neither imports the other's
internals, and only train.py calls evaluate.py).

Forward process (LLaDA, Nie et al. 2025): each token of x_0 is replaced by the mask token
independently with probability t. Training draws t ~ U(eps, 1) per sequence and scores the mask
predictor by cross-entropy on the masked tokens, weighted by 1/t: an upper bound on -log p(x_0).

For a prompt and an answer, `log_likelihood` estimates LLaDA's lower bound on log p(answer | prompt)
by Monte Carlo, in the lower-variance form the LLaDA authors use for evaluation (the facts from
get_log_likelihood.py of ML-GSAI/LLaDA; this is our own code): draw the number of masked answer
tokens l ~ U{1..L} (stratified across each batch), mask l answer tokens uniformly at random, and
score L / l times the cross-entropy of the masked tokens; the mean over samples estimates the bound.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mask_tokens(x: torch.Tensor, mask_id: int, eps: float, generator=None, t: torch.Tensor | None = None):
    """Forward process: (noisy ids, masked bool, per-token mask probability), each (B, T).
    t (B,): each sequence's mask probability; drawn from U(eps, 1) unless given."""
    B, T = x.shape
    if t is None:
        t = (1 - eps) * torch.rand(B, generator=generator) + eps
    p_mask = t[:, None].expand(B, T)
    masked = torch.rand(B, T, generator=generator) < p_mask
    return torch.where(masked, mask_id, x), masked, p_mask


def stratified_mask_counts(n: int, length: int, generator=None) -> torch.Tensor:
    """(n,) numbers of tokens to mask, each marginally uniform on 1..length, spread evenly over the
    range within the batch (one random offset), which lowers the estimate's variance."""
    offset = int(torch.randint(1, length + 1, (), generator=generator))
    spread = torch.round(torch.linspace(float(offset), offset + (n - 1) * length / n, n)).long()
    return (spread - 1) % length + 1


def mask_draws(n: int, length: int, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts (n,), masked (n, length)): n draws of how many answer tokens to mask, l ~ U{1..length}
    (stratified), and which: l of them uniformly at random per row."""
    counts = stratified_mask_counts(n, length, generator)
    order = torch.stack([torch.randperm(length, generator=generator) for _ in range(n)])  # (n, length)
    return counts, order < counts[:, None]


def _answer_logits(model, seqs: torch.Tensor, prompt_len: int, mask_id: int, cfg_scale: float) -> torch.Tensor:
    logits = model(seqs).logits
    if cfg_scale > 0:  # unsupervised classifier-free guidance: the prompt masked out
        unconditional = seqs.clone()
        unconditional[:, :prompt_len] = mask_id
        uncond = model(unconditional).logits
        logits = uncond + (cfg_scale + 1) * (logits - uncond)
    return logits


def bound_samples(model, prompt_ids, answer_ids, mc_samples: int = 128, batch_size: int = 16,
                  cfg_scale: float = 0.0, seed: int = 0, mask_id: int | None = None):
    """Yield, batch by batch, tensors of Monte Carlo samples of LLaDA's bound on log p(answer | prompt)
    (see log_likelihood), so that a page can show the estimate as it sharpens."""
    if hasattr(model, "mask_id") and hasattr(model, "model"):  # a LoadedModel
        mask_id = model.mask_id if mask_id is None else mask_id
        model = model.model
    if mask_id is None:
        mask_id = model.config.mask_token_id
    if getattr(model.config, "causal", False):
        raise ValueError("this bound is for diffusion models; score a causal model exactly (its own logits)")
    prompt, answer = list(prompt_ids), list(answer_ids)
    L = len(answer)
    if L == 0:
        raise ValueError("the answer is empty: give at least one token to score")
    if mc_samples < 1 or batch_size < 1:
        raise ValueError("mc_samples and batch_size must be at least 1")
    return _bound_samples(model, prompt, answer, mc_samples=mc_samples, batch_size=batch_size, cfg_scale=cfg_scale,
                          seed=seed, mask_id=mask_id)


@torch.no_grad()
def _bound_samples(model, prompt, answer, *, mc_samples, batch_size, cfg_scale, seed, mask_id):
    L, g = len(answer), torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    seq = torch.tensor(prompt + answer, device=device)
    for start in range(0, mc_samples, batch_size):
        n = min(batch_size, mc_samples - start)
        counts, masked = mask_draws(n, L, g)  # (n,), (n, L)
        seqs = seq.repeat(n, 1)
        seqs[:, len(prompt):][masked.to(device)] = mask_id
        logits = _answer_logits(model, seqs, len(prompt), mask_id, cfg_scale)[:, len(prompt):]
        logp = F.log_softmax(logits[..., : model.config.vocab_size].float(), dim=-1)
        token_logp = logp.gather(-1, seq[len(prompt):].expand(n, L)[..., None]).squeeze(-1).cpu()  # (n, L)
        yield ((token_logp * masked).sum(dim=1) * L / counts).double()  # each sample's estimate of the bound


def estimate(samples: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error) of Monte Carlo samples."""
    error = float(samples.std(unbiased=True)) / math.sqrt(len(samples)) if len(samples) > 1 else float("nan")
    return float(samples.mean()), error


def log_likelihood(model, prompt_ids, answer_ids, mc_samples: int = 128, batch_size: int = 16,
                   cfg_scale: float = 0.0, seed: int = 0, mask_id: int | None = None) -> tuple[float, float]:
    """(estimate, standard error) of LLaDA's Monte Carlo lower bound on log p(answer | prompt), nats.

    model: a mask predictor (our LLaDAModelLM or LoadedModel); prompt_ids, answer_ids: token ids.
    mc_samples: masked copies scored, in batches of batch_size (stratified within each batch).
    """
    batches = bound_samples(model, prompt_ids, answer_ids, mc_samples=mc_samples, batch_size=batch_size,
                            cfg_scale=cfg_scale, seed=seed, mask_id=mask_id)
    return estimate(torch.cat(list(batches)))


@torch.no_grad()
def log_likelihoods(model, prompt_ids, answers: list[list[int]], mc_samples: int = 16, seed: int = 0,
                    mask_id: int | None = None) -> list[float]:
    """log p(answer | prompt), nats, of each answer, all in one forward pass (rows padded on the right):
    an autoregressive model's exact value; a mask predictor's bound estimate from the
    draws log_likelihood(..., mc_samples, batch_size=mc_samples, seed) makes for that answer alone. The
    output head runs only where a token is scored (the causal model: the answer; the mask predictor: its
    masked tokens)."""
    if hasattr(model, "mask_id") and hasattr(model, "model"):  # a LoadedModel
        mask_id = model.mask_id if mask_id is None else mask_id
        model = model.model
    mask_id = model.config.mask_token_id if mask_id is None else mask_id
    causal, P = model.config.causal, len(prompt_ids)
    if not answers or not all(answers) or (causal and not P):
        raise ValueError("give at least one answer, none empty (and a causal model a prompt of a token or more)")
    if mc_samples < 1 and not causal:
        raise ValueError("mc_samples must be at least 1 (a mask predictor's bound is their mean)")
    rows, scored, truth, weights, owners = [], [], [], [], []  # per row: ids, positions scored, their tokens,
    for i, answer in enumerate(answers):                        # their weights, and the answer it scores
        ids, answer, L = list(prompt_ids) + list(answer), torch.tensor(list(answer)), len(answer)
        if causal:  # the logits at P - 1 .. P + L - 2 predict the answer's L tokens
            rows.append(torch.tensor(ids))
            scored.append(torch.arange(P - 1, P + L - 1))
            truth.append(answer)
            weights.append(torch.ones(L))
            owners.append(i)
            continue
        counts, masked = mask_draws(mc_samples, L, torch.Generator().manual_seed(seed))
        for count, m in zip(counts.tolist(), masked):
            row = torch.tensor(ids)
            row[P:][m] = mask_id
            rows.append(row)
            scored.append(P + m.nonzero()[:, 0])
            truth.append(answer[m])
            weights.append(torch.full((count,), L / count))
            owners.append(i)
    T = max(len(r) for r in rows)
    x = torch.zeros(len(rows), T, dtype=torch.long)
    real = torch.zeros(len(rows), T, dtype=torch.bool)
    for r, row in enumerate(rows):
        x[r, : len(row)], real[r, : len(row)] = row, True
    # right padding: a causal model's real positions never see it; the mask predictor's keys hide it
    device = next(model.parameters()).device
    h = hidden_states(model, x.to(device), None if causal else real.to(device))  # (R, T, C)
    which = torch.cat([torch.full((len(s),), r) for r, s in enumerate(scored)])  # (N,) each scored token's row
    logits = output_head(model, h[which.to(device), torch.cat(scored).to(device)])[:, : model.config.vocab_size]
    logp = F.log_softmax(logits.float(), dim=-1)  # (N, V)
    token_logp = logp.gather(-1, torch.cat(truth).to(device)[:, None])[:, 0].cpu()  # (N,)
    per_row = torch.zeros(len(rows), dtype=torch.float64).index_add_(0, which, (token_logp * torch.cat(weights)).double())
    per_answer = torch.zeros(len(answers), dtype=torch.float64).index_add_(0, torch.tensor(owners), per_row)
    return (per_answer / (1 if causal else mc_samples)).tolist()


# ---- scoring a mask predictor (or its causal twin) on held-out windows -------------------------------
def hidden_states(model, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """model.forward without the output head, so the head runs on masked positions only (saves time).
    attention_mask (B, T): False hides a position as a key (padding), as in model.forward."""
    tr = model.model.transformer
    cos, sin = model._rotary(ids.shape[1], ids.device)
    key_mask = None if attention_mask is None or bool(attention_mask.all()) else attention_mask[:, None, None, :]
    x = tr.wte(ids)
    for block in tr.blocks:
        x = block(x, cos, sin, key_mask)
    return tr.ln_f(x)


def output_head(model, h: torch.Tensor) -> torch.Tensor:
    tr = model.model.transformer
    if model.config.weight_tying:
        return F.linear(h, tr.wte.weight)
    return tr.ff_out(h)


@torch.no_grad()
def next_token_accuracy(model, windows: torch.Tensor, batch_size: int = 16):
    """Share of tokens predicted exactly (argmax) from the tokens before them."""
    correct = total = 0
    for i in range(0, len(windows), batch_size):
        x = windows[i : i + batch_size]
        logits = output_head(model, hidden_states(model, x[:, :-1]))[..., : model.config.vocab_size]
        correct += int((logits.argmax(-1) == x[:, 1:]).sum())
        total += x[:, 1:].numel()
    return correct / max(total, 1)


@torch.no_grad()
def masked_accuracy(model, windows: torch.Tensor, mask_id: int, t: float, seed: int = 0, batch_size: int = 16):
    """Share of masked tokens predicted exactly (argmax) when each token is masked with prob t."""
    g = torch.Generator().manual_seed(seed)
    correct = total = 0
    for i in range(0, len(windows), batch_size):
        x = windows[i : i + batch_size]
        noisy, masked, _ = mask_tokens(x, mask_id, 0.0, g, t=torch.full((len(x),), t))
        logits = output_head(model, hidden_states(model, noisy)[masked])[:, : model.config.vocab_size]
        correct += int((logits.argmax(-1) == x[masked]).sum())
        total += int(masked.sum())
    return correct / max(total, 1)


# ----------------------------------------------------------------------------------------------
# data



# ---- the forward process, shown: one text masked at ratio t and reconstructed in one pass ----------
CURVE_TS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # t = 0.05, 0.10, ..., 1.00


def token_draws(n: int, seed: int = 0) -> torch.Tensor:
    """(n,) one uniform draw per token: a token is masked at ratio t when its draw is below t, so
    raising t only adds masks (the forward process at every t from one set of draws)."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def reconstruct(model, ids, masked, mask_id: int) -> dict:
    """One forward pass of the mask predictor over `ids` (n,) with `masked` (n,) bool replaced by the
    mask token: its prediction (argmax), that prediction's probability and the true token's
    probability at every position, (n,) each."""
    x = torch.as_tensor(ids)[None].clone()
    x[0, torch.as_tensor(masked)] = mask_id
    logits = model(x).logits[0, :, : model.config.vocab_size].float()
    p = F.softmax(logits, dim=-1)
    prediction = p.argmax(dim=-1)
    true = torch.as_tensor(ids)
    return dict(prediction=prediction, confidence=p.gather(-1, prediction[:, None])[:, 0],
                true_probability=p.gather(-1, true[:, None])[:, 0])


@torch.no_grad()
def forward_curve(model, ids, draws, mask_id: int, ts=CURVE_TS) -> list[dict]:
    """At each t: how many tokens are masked, the share of them the one-pass argmax gets right, and
    LLaDA's per-token loss (cross-entropy on the masked tokens, weighted 1/t, over the length)."""
    true, out = torch.as_tensor(ids), []
    for t in ts:
        masked = draws < t
        r = reconstruct(model, ids, masked, mask_id)
        n = int(masked.sum())
        accuracy = float((r["prediction"][masked] == true[masked]).float().mean()) if n else None
        loss = float(-(r["true_probability"][masked].clamp_min(1e-30).log()).sum() / t / len(ids))
        out.append(dict(t=t, masked=n, accuracy=accuracy, loss=loss))
    return out

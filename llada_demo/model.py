"""The LLaDA mask predictor, in one file.

A Llama-style Transformer without a causal mask: every position attends to every other one, so the
model can predict all masked tokens of a sequence at once. With `causal` in its config (ours, not
LLaDA's) the same network is an ordinary autoregressive LM: the twin the demo compares LLaDA with. Module and parameter names follow the
official checkpoints (GSAI-ML/LLaDA-8B-Instruct, LLaDA-8B-Base, LLaDA-1.5) so their safetensors load
as they are: `model.transformer.wte.weight`, `model.transformer.blocks.{i}.q_proj.weight`, ...

References:
- Nie et al., "Large Language Diffusion Models" (LLaDA), 2025.
- The `config.json` of the official checkpoints for field names and the numerics (RMSNorm in float32,
  rotary embeddings in the rotate-half form computed in float32, SwiGLU MLP).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LLaDAConfig:
    """The fields of an official LLaDA `config.json` that change the computation."""

    d_model: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = 32  # < n_heads: grouped-query attention; None means n_heads
    mlp_hidden_size: int = 12288
    vocab_size: int = 126464
    embedding_size: int | None = 126464  # rows of wte and of the head; >= vocab_size
    rope_theta: float = 500000.0
    rms_norm_eps: float = 1e-5
    max_sequence_length: int = 4096
    weight_tying: bool = False
    include_bias: bool = False
    block_type: str = "llama"
    mask_token_id: int = 126336
    eos_token_id: int = 126081
    pad_token_id: int = 126081
    causal: bool = False  # ours, not LLaDA's: the autoregressive twin (each position sees those before it)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def padded_vocab_size(self) -> int:
        return self.embedding_size or self.vocab_size

    @classmethod
    def from_dict(cls, d: dict) -> "LLaDAConfig":
        """Build from a config.json dict, ignoring fields that do not change the computation."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        """The official config.json fields (plus the ones its loader expects), for writing checkpoints."""
        d = asdict(self)
        d.update(
            model_type="llada",
            architectures=["LLaDAModelLM"],
            activation_type="silu",
            layer_norm_type="rms",
            layer_norm_with_affine=True,
            bias_for_layer_norm=False,
            include_qkv_bias=False,
            attention_layer_norm=False,
            rope=True,
            rope_full_precision=True,
            alibi=False,
            flash_attention=False,
            scale_logits=False,
            input_emb_norm=False,
            block_group_size=1,
            mlp_ratio=max(1, self.mlp_hidden_size // self.d_model),
            multi_query_attention=None,
            attention_dropout=0.0,
            embedding_dropout=0.0,
            residual_dropout=0.0,
            use_cache=False,
        )
        return d


class RMSNorm(nn.Module):
    """Normalise in float32, cast back, then scale (weight only, no bias)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rotary_tables(seq_len: int, head_dim: int, theta: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, float32, each (T, head_dim) in the rotate-half layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)  # (T, hs/2)
    angles = torch.cat((angles, angles), dim=-1)  # (T, hs)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, nh, T, hs) by the angles; computed in float32 whatever the model dtype."""
    x32 = x.float()
    x1, x2 = x32.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (x32 * cos + rotated * sin).to(x.dtype)


class KVCache:
    """Keys and values of the positions a causal model has read, per layer, each (B, n_kv, S, hs):
    the autoregressive twin reads its prompt once, then one new token per forward pass."""

    def __init__(self):
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    @property
    def length(self) -> int:
        return self.keys[0].shape[2] if self.keys else 0

    def past(self, layer: int) -> int:
        """Positions before this pass's in `layer` (its causal mask is offset by them)."""
        return self.keys[layer].shape[2] if layer < len(self.keys) else 0

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add this pass's keys and values (B, n_kv, T, hs) of `layer`; return all of them so far."""
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=2)
            self.values[layer] = torch.cat([self.values[layer], v], dim=2)
        return self.keys[layer], self.values[layer]


class BlockCache:
    """Keys and values of every position from one full pass, per layer (B, n_kv, T, hs): Fast-dLLM's
    prefix and dual caches for the mask predictor (Wu et al. 2025). A later pass gives the tokens of
    positions [start, start + n) only; they attend to the stored keys and values of all the others
    (approximate: bidirectional attention would have changed those too) and their own fresh ones,
    which replace the stored ones. The sampler refreshes it with a full pass at every block start."""

    def __init__(self):
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.start = 0  # first position of the pass under way (set by LLaDAModelLM.forward)

    @property
    def length(self) -> int:
        return self.keys[0].shape[2] if self.keys else 0

    def past(self, layer: int) -> int:
        return 0  # bidirectional: no causal offset

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store a full pass's keys and values, or write a partial pass's over theirs; return all."""
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            end = self.start + k.shape[2]  # in place: the stored tensors belong to this cache alone
            self.keys[layer][:, :, self.start : end] = k
            self.values[layer][:, :, self.start : end] = v
        return self.keys[layer], self.values[layer]


class Block(nn.Module):
    """Pre-norm Transformer block: x + Attn(norm(x)), then + SwiGLU(norm(x))."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        d, hs, bias = config.d_model, config.head_dim, config.include_bias
        self.n_heads, self.kv_heads, self.head_dim = config.n_heads, config.kv_heads, hs
        self.causal = config.causal
        self.attn_norm = RMSNorm(d, config.rms_norm_eps)
        self.q_proj = nn.Linear(d, config.n_heads * hs, bias=bias)
        self.k_proj = nn.Linear(d, config.kv_heads * hs, bias=bias)
        self.v_proj = nn.Linear(d, config.kv_heads * hs, bias=bias)
        self.attn_out = nn.Linear(d, d, bias=bias)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps)
        self.ff_proj = nn.Linear(d, config.mlp_hidden_size, bias=bias)  # gate
        self.up_proj = nn.Linear(d, config.mlp_hidden_size, bias=bias)
        self.ff_out = nn.Linear(config.mlp_hidden_size, d, bias=bias)  # down

    def forward(self, x, cos, sin, key_mask=None, cache: KVCache | BlockCache | None = None, layer: int = 0):
        B, T, C = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(h).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        v = self.v_proj(h).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        past = 0
        if cache is not None:  # keys and values of the earlier positions come from the cache
            past = cache.past(layer)
            k, v = cache.extend(layer, k, v)  # (B, nkv, past + T, hs); a BlockCache: (B, nkv, all, hs)
        if self.kv_heads != self.n_heads:  # grouped-query attention: share each kv head
            k = k.repeat_interleave(self.n_heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.n_heads // self.kv_heads, dim=1)
        # No causal mask: the mask predictor sees the whole sequence. key_mask hides padding only.
        # The autoregressive twin (config.causal) lets each position see itself and those before it.
        if self.causal and key_mask is not None:  # a padding query keeps itself, or its row would be NaN
            tril = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            key_mask = tril & (key_mask | torch.eye(T, dtype=torch.bool, device=x.device))  # (B, 1, T, T)
        elif self.causal and past and T > 1:  # new positions after cached ones: query i sees keys <= past + i
            key_mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)  # (T, past + T)
        causal = self.causal and key_mask is None and past == 0  # (one new position after a cache sees all)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, is_causal=causal)  # (B, nh, T, hs)
        x = x + self.attn_out(y.transpose(1, 2).reshape(B, T, C))
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))


class LLaDAModel(nn.Module):
    """The network; named `model` inside LLaDAModelLM, as in the checkpoints."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        self.config = config
        parts = dict(
            wte=nn.Embedding(config.padded_vocab_size, config.d_model),
            blocks=nn.ModuleList(Block(config) for _ in range(config.n_layers)),
            ln_f=RMSNorm(config.d_model, config.rms_norm_eps),
        )
        if not config.weight_tying:
            parts["ff_out"] = nn.Linear(config.d_model, config.padded_vocab_size, bias=config.include_bias)
        self.transformer = nn.ModuleDict(parts)


class LLaDAModelLM(nn.Module):
    """The mask predictor p_theta(x_0 | x_t): token ids in, logits for every position out."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        if config.block_type != "llama":
            raise ValueError(f"block_type {config.block_type!r} is not supported; LLaDA uses 'llama'")
        if config.d_model % config.n_heads or config.n_heads % config.kv_heads:
            raise ValueError("d_model must divide by n_heads, and n_heads by n_kv_heads")
        self.config = config
        self.model = LLaDAModel(config)
        self._rope_cache: tuple | None = None  # (len, device, cos, sin); not a buffer, so not in checkpoints

    @property
    def device(self) -> torch.device:
        return self.model.transformer.wte.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.transformer.wte.weight.dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _rotary(self, T: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        cache = self._rope_cache
        if cache is None or cache[0] < T or cache[1] != device:
            length = max(T, min(self.config.max_sequence_length, 1024))
            cos, sin = rotary_tables(length, self.config.head_dim, self.config.rope_theta, device)
            cache = self._rope_cache = (length, device, cos, sin)
        return cache[2][:T], cache[3][:T]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                cache: KVCache | BlockCache | None = None, start: int = 0):
        """input_ids (B, T) -> SimpleNamespace(logits=(B, T, V)).

        attention_mask (B, T), 1 for real tokens and 0 for padding: padded positions are hidden as
        keys, so a sequence's logits do not depend on what else is in the batch. Rotary embeddings
        are relative, so left padding needs no position shift.
        cache: a KVCache (causal models): input_ids follow the positions already in it, and are added
        to it. A BlockCache (the mask predictor): empty, a full pass fills it; filled, input_ids are the
        tokens of positions [start, start + T) only, and attention_mask (if any) covers all positions.
        """
        B, T = input_ids.shape
        t = self.model.transformer
        past = 0
        if isinstance(cache, KVCache):
            if not self.config.causal or attention_mask is not None:
                raise ValueError("a KV cache is for causal models, without attention_mask")
            past = cache.length
        elif cache is not None:
            if self.config.causal:
                raise ValueError("a block cache is for the mask predictor, not causal models")
            if cache.keys:  # a partial pass: positions [start, start + T) of the cached sequence
                if start < 0 or start + T > cache.length:
                    raise ValueError(f"positions {start}..{start + T} are outside the cached {cache.length}")
                past, cache.start = start, start
            elif start:
                raise ValueError("an empty block cache is filled by a full pass (start 0)")
        cos, sin = self._rotary(past + T, input_ids.device)
        cos, sin = cos[past:], sin[past:]
        key_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            key_mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
        x = t.wte(input_ids)  # (B, T, C)
        for i, block in enumerate(t.blocks):
            x = block(x, cos, sin, key_mask, cache, i)
        x = t.ln_f(x)
        head = t.wte.weight if self.config.weight_tying else t.ff_out.weight
        logits = F.linear(x, head, t.ff_out.bias if not self.config.weight_tying else None)  # (B, T, V)
        return SimpleNamespace(logits=logits)

    @torch.no_grad()
    def init_weights(self, seed: int = 0, std: float = 0.02) -> "LLaDAModelLM":
        """Random init for training from scratch and for test checkpoints (never used when loading)."""
        g = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight") or name.endswith("ln_f.weight"):
                p.fill_(1.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                # residual output projections start smaller (GPT-2 style), so deep stacks start stable
                residual = name.endswith("attn_out.weight") or (".blocks." in name and name.endswith("ff_out.weight"))
                scale = std / math.sqrt(2 * self.config.n_layers) if residual else std
                p.copy_(torch.randn(p.shape, generator=g) * scale)
        return self

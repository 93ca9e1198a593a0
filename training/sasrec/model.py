"""SASRec in plain torch, nanoGPT style: a config dataclass, pre-norm blocks, tied embeddings.

Sequences are left-padded with item index 0. Attention is causal and ignores padded keys;
each position may always attend to itself so fully padded rows stay finite (no NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SASRecConfig:
    n_items: int  # vocabulary size without the padding index 0
    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    attn_dropout: float = 0.2  # on the attention weights; it matters on small data (ML-100K)

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ValueError(f"SASRecConfig.dim ({self.dim}) must be divisible by n_heads ({self.n_heads})")
        if self.n_items < 1:
            raise ValueError("SASRecConfig.n_items must be at least 1")


class SelfAttention(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.proj = nn.Linear(config.dim, config.dim)
        self.attn_dropout = config.attn_dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).split(dim, dim=2)
        q, k, v = (t.view(batch, length, self.n_heads, dim // self.n_heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.attn_dropout if self.training else 0.0
        )
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.dim)
        self.attn = SelfAttention(config)
        self.norm2 = nn.LayerNorm(config.dim)
        self.mlp = nn.Sequential(
            nn.Linear(config.dim, 4 * config.dim),
            nn.GELU(),
            nn.Linear(4 * config.dim, config.dim),
            nn.Dropout(config.dropout),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), allowed))
        return x + self.mlp(self.norm2(x))


def attention_mask(sequences: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) boolean: query i may see key j when j <= i and j is not padding (or j == i)."""
    length = sequences.size(1)
    causal = torch.ones(length, length, dtype=torch.bool, device=sequences.device).tril()
    real_key = (sequences != 0)[:, None, None, :]
    diagonal = torch.eye(length, dtype=torch.bool, device=sequences.device)
    return (causal & real_key) | diagonal


class SASRec(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.n_items + 1, config.dim, padding_idx=0)
        self.position_embedding = nn.Embedding(config.max_len, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_blocks))
        self.norm = nn.LayerNorm(config.dim)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()

    def encode(self, sequences: torch.Tensor) -> torch.Tensor:
        """Hidden state at every position, (B, L, dim). Input is (B, L) left-padded indices."""
        length = sequences.size(1)
        if length > self.config.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.config.max_len}")
        positions = torch.arange(self.config.max_len - length, self.config.max_len, device=sequences.device)
        x = self.item_embedding(sequences) * math.sqrt(self.config.dim) + self.position_embedding(positions)
        x = self.dropout(x) * (sequences != 0).unsqueeze(-1)
        allowed = attention_mask(sequences)
        for block in self.blocks:
            x = block(x, allowed)
        return self.norm(x)

    def item_vectors(self) -> torch.Tensor:
        """Output item embeddings (tied with the input ones), (n_items + 1, dim); row 0 is padding."""
        return self.item_embedding.weight

    def forward(
        self, sequences: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits over the real items (column j is item index j + 1) and, given next-item targets,
        the full-softmax cross-entropy over the positions that have one (padding never counts)."""
        hidden = self.encode(sequences)
        items = self.item_vectors()[1:]
        if targets is None:
            return hidden @ items.T, None
        real = targets > 0
        logits = hidden[real] @ items.T
        return logits, F.cross_entropy(logits, targets[real] - 1)

    @torch.no_grad()
    def user_vectors(self, sequences: torch.Tensor) -> torch.Tensor:
        """Representation of each sequence: the hidden state at its last (most recent) position."""
        return self.encode(sequences)[:, -1, :]

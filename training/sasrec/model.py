"""SASRec in plain torch, nanoGPT style: a config dataclass, pre-norm blocks, tied embeddings.

Sequences are left-padded with item index 0. Attention is causal and ignores padded keys;
each position may always attend to itself so fully padded rows stay finite (no NaN).

Two optional item inputs make the catch-up challenger (``training.catchup.architectures``):
a category side feature, which places a brand-new item next to its category before anyone
clicked it, and a frozen prior table (another model's item vectors) that enters through a
learned projection, so a new architecture can start from an incumbent's knowledge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from training.sasrec.fast_ops import Dropout, dropout, linear_cross_entropy


@dataclass(frozen=True)
class SASRecConfig:
    n_items: int  # vocabulary size without the padding index 0
    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    attn_dropout: float = 0.2  # on the attention weights; it matters on small data (ML-100K)
    ffn_mult: int = 4  # feed-forward width / dim (GPT's 4; the SASRec paper's feed-forward is 1)
    n_categories: int = 0  # > 0: a category embedding is added to every item vector (side feature)
    prior_dim: int = 0  # > 0: a frozen prior item table of this width enters through a learned projection

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ValueError(f"SASRecConfig.dim ({self.dim}) must be divisible by n_heads ({self.n_heads})")
        if self.n_items < 1:
            raise ValueError("SASRecConfig.n_items must be at least 1")
        if self.n_categories < 0 or self.prior_dim < 0:
            raise ValueError("SASRecConfig.n_categories and prior_dim must be >= 0")


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
        if self.training and self.attn_dropout > 0:
            # SDPA's own attention dropout draws with bernoulli_, the slow CPU path; same math.
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
            weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
            out = dropout(weights, self.attn_dropout, True) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.dim)
        self.attn = SelfAttention(config)
        self.norm2 = nn.LayerNorm(config.dim)
        self.mlp = nn.Sequential(
            nn.Linear(config.dim, config.ffn_mult * config.dim),
            nn.GELU(),
            nn.Linear(config.ffn_mult * config.dim, config.dim),
            Dropout(config.dropout),
        )
        self.dropout = Dropout(config.dropout)

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
        self.dropout = Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_blocks))
        self.norm = nn.LayerNorm(config.dim)
        if config.n_categories:
            # Row 0 is "no category" (padding or an item missing from the catalogue).
            self.category_embedding = nn.Embedding(config.n_categories + 1, config.dim, padding_idx=0)
            self.register_buffer("item_category", torch.zeros(config.n_items + 1, dtype=torch.long))
        if config.prior_dim:
            self.register_buffer("item_prior", torch.zeros(config.n_items + 1, config.prior_dim))
            self.prior_projection = nn.Linear(config.prior_dim, config.dim, bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
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
        x = self.input_vectors(sequences) * math.sqrt(self.config.dim) + self.position_embedding(positions)
        x = self.dropout(x) * (sequences != 0).unsqueeze(-1)
        allowed = attention_mask(sequences)
        for block in self.blocks:
            x = block(x, allowed)
        return self.norm(x)

    def input_vectors(self, sequences: torch.Tensor) -> torch.Tensor:
        """Item vectors of (B, L) indices; the plain model looks up only the rows it needs."""
        if not (self.config.n_categories or self.config.prior_dim):
            return self.item_embedding(sequences)
        return F.embedding(sequences, self.item_vectors(), padding_idx=0)

    def item_vectors(self) -> torch.Tensor:
        """Output item embeddings (tied with the input ones), (n_items + 1, dim); row 0 is padding."""
        vectors = self.item_embedding.weight
        if self.config.n_categories:
            vectors = vectors + self.category_embedding(self.item_category)
        if self.config.prior_dim:
            vectors = vectors + self.prior_projection(self.item_prior)
        return vectors

    def forward(
        self, sequences: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Without targets: logits over the real items (column j is item index j + 1). With
        next-item targets: (None, the full-softmax cross-entropy over the positions that have
        one); padding never counts, and the logits are never held whole (``linear_cross_entropy``)."""
        hidden = self.encode(sequences)
        items = self.item_vectors()[1:]
        if targets is None:
            return hidden @ items.T, None
        real = targets > 0
        return None, linear_cross_entropy(hidden[real], items, targets[real] - 1)

    @torch.no_grad()
    def user_vectors(self, sequences: torch.Tensor) -> torch.Tensor:
        """Representation of each sequence: the hidden state at its last (most recent) position."""
        return self.encode(sequences)[:, -1, :]

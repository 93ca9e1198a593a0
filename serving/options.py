"""Serving knobs, read from ``RELAY_SERVING_<FIELD>`` (the platform's paths come from RelaySettings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from slate.rules import CANDIDATES, MAX_PER_CATEGORY


class ServingOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAY_SERVING_", frozen=True)

    n_candidates: int = Field(default=CANDIDATES, ge=1, le=5000, description="Items retrieved by faiss per request.")
    max_k: int = Field(default=100, ge=1, description="Largest k a request may ask for.")
    max_per_category: int | None = Field(
        default=MAX_PER_CATEGORY, ge=1, description="Business rule; None disables the cap."
    )
    filter_seen: bool = Field(default=True, description="Drop items the user already consumed.")
    temperature: float = Field(
        default=0.0,
        ge=0.0,
        description="Exploration: 0 serves the ranking greedily (propensity 1); >0 samples slates by "
        "Plackett-Luce on score logits and logs each shown item's propensity.",
    )
    max_body_bytes: int = Field(default=16_384, ge=256, description="Larger request bodies get 413.")
    max_exclude: int = Field(default=1_000, ge=0, description="Most item ids a request may exclude.")
    poll_s: float = Field(default=5.0, gt=0, description="How often the champion alias is checked.")
    item_cache_ttl_s: float = Field(
        default=60.0, ge=0, description="How often serving checks whether the item views were re-materialized."
    )
    log_impressions: bool = Field(default=True, description="Write served slates into the landing area.")
    flush_s: float = Field(default=10.0, gt=0, description="Most seconds a served impression waits in memory.")
    flush_rows: int = Field(default=20_000, ge=1, description="Flush the impression log at this many rows.")
    # The online store failing under load (serving/online_guard.py): bounded waits, then cache or fallback.
    online_timeout_s: float = Field(
        default=0.25, gt=0, description="Redis socket and connect timeout of serving's reads (no client retries)."
    )
    online_retry_s: float = Field(
        default=2.0, ge=0, description="After a failed online read, serve without the store for this long."
    )
    user_cache_entries: int = Field(
        default=10_000, ge=0, description="Last-good cache of per-user online reads: most users kept (LRU)."
    )
    user_cache_max_age_s: float = Field(
        default=3_600.0, ge=0, description="Last-good cache: oldest read it will still answer from."
    )
    probe_s: float = Field(
        default=5.0, gt=0, description="Most seconds between probes of known keys that tell an empty store."
    )
    fallback_window: int = Field(
        default=200, ge=1, description="Answers over which /metrics' relay_fallback_share is computed."
    )

"""Assets by stage: ingest, features, embeddings, ranker, evaluation, registry, online."""

import warnings

from dagster import BetaWarning

# Single-run backfill policies are "beta" in Dagster 1.13; the warning would repeat on every load.
warnings.filterwarnings("ignore", category=BetaWarning)

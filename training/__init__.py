"""Models and ML logic: SASRec embeddings, the ranker, metrics, evaluation and promotion rules.

Nothing here imports Dagster; every entrypoint runs as ``python -m`` and under ``torchrun``.
"""

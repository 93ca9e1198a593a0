"""Synthetic recommender world: latent tastes, a logging policy, and daily raw-log partitions."""

"""Bring real interaction logs into Relay's raw-log schema as daily landing partitions."""

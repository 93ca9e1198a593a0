"""Peer implementations measured beside Relay's own benchmarks, each in its own virtualenv."""

"""Catch-up: a new architecture overtakes a long-trained incumbent, with its compute counted."""

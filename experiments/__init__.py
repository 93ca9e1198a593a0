"""Experiments that span the stack: A/B tests of served models against the simulated world,
off-policy evaluation runs over logged propensities, and catch-up runs of a new architecture
against a long-trained incumbent.

This layer sits above training, serving and the simulator (it drives the real request path
against a world with known utilities) and below orchestration and the CLI, which launch it.
See docs/architecture.md.
"""

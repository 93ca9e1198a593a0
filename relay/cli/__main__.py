"""``python -m relay.cli``: the same as the ``relay`` console script."""

from relay.cli import app

app()

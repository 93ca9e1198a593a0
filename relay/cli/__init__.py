"""The ``relay`` command line (the console script ``relay = "relay.cli:app"``).

One module per command group; each parses arguments, calls the layers below and prints.
``relay.cli.main`` builds the Typer app and registers the commands in ``relay --help`` order.
"""

from relay.cli.main import app

__all__ = ["app"]

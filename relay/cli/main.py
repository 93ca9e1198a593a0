"""The Typer app and its commands, registered in the order ``relay --help`` lists them."""

from __future__ import annotations

import typer

from relay.cli.experiments import abtest, catchup, explore
from relay.cli.importing import import_app
from relay.cli.models import report, rollback
from relay.cli.pipeline import demo, repair, run_pipeline
from relay.cli.quality import quality_app
from relay.cli.serve import serve
from relay.cli.services import services_app, ui
from relay.cli.world import incident, reland, simulate

app = typer.Typer(help="Relay: orchestrated end-to-end MLOps for recommender systems.", no_args_is_help=True)

app.command("simulate")(simulate)
app.command("demo")(demo)
app.command("run")(run_pipeline)
app.command("incident")(incident)
app.command("reland")(reland)
app.command("repair")(repair)
app.command("report")(report)
app.command("abtest")(abtest)
app.command("explore")(explore)
app.command("catchup")(catchup)
app.command("rollback")(rollback)
app.command("ui")(ui)
app.command("serve")(serve)
app.add_typer(quality_app, name="quality")
app.add_typer(import_app, name="import")
app.add_typer(services_app, name="services")

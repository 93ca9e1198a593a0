"""Refusals of the plain pipeline functions, shown in Dagster as failures rather than crashes."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg


@contextmanager
def failure_on(*refusals: type[Exception]) -> Iterator[None]:
    """Re-raise ``refusals`` as ``dg.Failure``: the run shows the reason, not a stack trace."""
    try:
        yield
    except refusals as refused:
        raise dg.Failure(description=str(refused)) from refused

"""Dagster config generated from the training code's own config dataclasses.

A hand-written ``dg.Config`` mirror drifts: a field added to the dataclass is silently missing
from the launchpad and can never be set from a run config. Generating the Config class from
the dataclasses makes every field, with its type and default, appear by construction.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

import dagster as dg
import pydantic

T = TypeVar("T")


def config_class(name: str, doc: str, *sources: type) -> type[dg.Config]:
    """A ``dg.Config`` subclass with one field per field of each ``sources`` dataclass, in order."""
    fields: dict[str, Any] = {}
    for source in sources:
        hints = typing.get_type_hints(source)
        for spec in dataclasses.fields(source):
            if spec.name in fields:
                raise TypeError(f"{name}: {source.__name__}.{spec.name} is already a field of another source")
            if spec.default is dataclasses.MISSING:
                raise TypeError(f"{name}: {source.__name__}.{spec.name} has no plain default; Dagster config needs one")
            fields[spec.name] = (hints[spec.name], spec.default)
    return pydantic.create_model(name, __base__=dg.Config, __doc__=doc, **fields)


def from_config(config: dg.Config, target: type[T]) -> T:
    """The ``target`` dataclass built from its fields in ``config`` (other sources' fields left out)."""
    return target(**{spec.name: getattr(config, spec.name) for spec in dataclasses.fields(target)})

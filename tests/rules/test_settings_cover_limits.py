"""Every bound the engine puts on client input (resolvers.context.Limits) is a server setting,
a flag with an environment twin, passed through: none is fixed where an operator cannot
reach it."""

from __future__ import annotations

import dataclasses

from app.settings import Settings
from resolvers.context import Limits


def test_each_limit_comes_from_its_setting() -> None:
    settings_fields = {spec.name for spec in dataclasses.fields(Settings)}
    for spec in dataclasses.fields(Limits):
        assert spec.name in settings_fields, f"Limits.{spec.name} is not a setting"
        current = getattr(Settings(), spec.name)
        changed = Settings(**{spec.name: type(current)(current * 2 + 1)})
        assert getattr(changed.limits(), spec.name) == current * 2 + 1, spec.name

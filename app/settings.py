"""Settings: read once from COUCHQUEUE_* environment variables and CLI flags into one frozen
object, passed down from there. Every field has a CLI flag and an environment twin."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from resolvers.context import Limits


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    store: str = "sqlite:///./couchqueue.db"
    log_level: str = "info"
    max_body_bytes: int = 1024 * 1024
    max_data_bytes: int = 256 * 1024
    max_interests_per_queue: int = 100
    max_queues_per_worker: int = 100
    max_page_size: int = 1000
    graphql_max_depth: int = 10
    default_lease_seconds: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then COUCHQUEUE_<FIELD> variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(env_name(field.name))
            if raw is not None and raw != "":
                values[field.name] = _convert(field.name, raw, type(getattr(cls(), field.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def limits(self) -> Limits:
        return Limits(
            max_data_bytes=self.max_data_bytes,
            max_interests_per_queue=self.max_interests_per_queue,
            max_queues_per_worker=self.max_queues_per_worker,
            max_page_size=self.max_page_size,
            default_lease_seconds=self.default_lease_seconds,
        )


def env_name(field_name: str) -> str:
    return "COUCHQUEUE_" + field_name.upper()


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{env_name(name)}={raw!r} is not a valid {kind.__name__}") from None

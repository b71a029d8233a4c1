"""The GraphQL schema: Strawberry declarations that call the engine in ``resolvers``.

Every resolver finds the engine context at ``info.context["cq"]``.
"""

from __future__ import annotations

from schema.build import build_schema

schema = build_schema()

__all__ = ["build_schema", "schema"]

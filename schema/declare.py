"""Strawberry's decorators, with the docstring as the GraphQL description.

Strawberry reads descriptions only from ``description=``; these pass the class's or resolver's
docstring, so it is written once and read both in the code and in the SDL. They also keep mypy
strict content: ``strawberry.field(description=...)`` used as a decorator is typed ``Any``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from enum import EnumMeta
from typing import Any, TypeVar, dataclass_transform

import strawberry
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)
E = TypeVar("E", bound=EnumMeta)


def _doc(obj: object) -> str | None:
    """The docstring with each paragraph on one line (descriptions are Markdown)."""
    # Read __doc__ itself: inspect.getdoc would inherit a parent class's docstring.
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return None
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


@dataclass_transform(
    order_default=False, kw_only_default=True, field_specifiers=(strawberry.field, StrawberryField)
)
def object_type(cls: T) -> T:
    """``strawberry.type``, described by the class docstring."""
    return strawberry.type(cls, description=_doc(cls))


@dataclass_transform(
    order_default=False, kw_only_default=True, field_specifiers=(strawberry.field, StrawberryField)
)
def input_type(cls: T) -> T:
    """``strawberry.input``, described by the class docstring."""
    return strawberry.input(cls, description=_doc(cls))


@dataclass_transform(
    order_default=False, kw_only_default=True, field_specifiers=(strawberry.field, StrawberryField)
)
def scalar_input_type(cls: T) -> T:
    """``input_type`` for an input whose fields are all built-in scalars (JSON and ID
    included), built from the request's value directly: graphql-core has already coerced every
    scalar, and Strawberry's generic conversion would resolve each field's type again on every
    request (a tenth of a publishTask). Uses the definition's ``from_input`` hook for that."""
    typed = input_type(cls)
    definition = typed.__strawberry_definition__  # type: ignore[attr-defined]
    names = NameConverter()
    fields: list[tuple[str, str]] = []
    for spec in definition.fields:
        kind = spec.type
        if isinstance(kind, StrawberryOptional):
            kind = kind.of_type
        if kind not in DEFAULT_SCALAR_REGISTRY:
            raise TypeError(f"{cls.__name__}.{spec.python_name} is not a scalar")
        fields.append((names.from_field(spec), spec.python_name))

    def from_input(built: type, value: Mapping[str, Any], context: object) -> Any:
        return built(**{python: value[name] for name, python in fields if name in value})

    definition.from_input = from_input
    return typed


def enum_type(cls: E) -> E:
    """``strawberry.enum``, described by the class docstring."""
    return strawberry.enum(cls, description=_doc(cls))


def field(resolver: Callable[..., object]) -> StrawberryField:
    """``strawberry.field`` on a resolver method, described by its docstring."""
    return strawberry.field(resolver, description=_doc(resolver))


def mutation(resolver: Callable[..., object]) -> StrawberryField:
    """``strawberry.mutation`` on a resolver method, described by its docstring."""
    return strawberry.mutation(resolver, description=_doc(resolver))


def deprecated_mutation(reason: str) -> Callable[[Callable[..., object]], StrawberryField]:
    """``mutation``, deprecated: ``reason`` names the replacement."""

    def declare(resolver: Callable[..., object]) -> StrawberryField:
        return strawberry.mutation(resolver, description=_doc(resolver), deprecation_reason=reason)

    return declare


def subscription(resolver: Callable[..., object]) -> StrawberryField:
    """``strawberry.subscription`` on a resolver method, described by its docstring."""
    return strawberry.subscription(resolver, description=_doc(resolver))

"""Strawberry's decorators, with the docstring as the GraphQL description.

Strawberry reads descriptions only from ``description=``; these pass the class's or resolver's
docstring, so it is written once and read both in the code and in the SDL. They also keep mypy
strict content: ``strawberry.field(description=...)`` used as a decorator is typed ``Any``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar, dataclass_transform

import strawberry
from strawberry.types.field import StrawberryField

T = TypeVar("T", bound=type)


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


def field(resolver: Callable[..., object]) -> StrawberryField:
    """``strawberry.field`` on a resolver method, described by its docstring."""
    return strawberry.field(resolver, description=_doc(resolver))


def mutation(resolver: Callable[..., object]) -> StrawberryField:
    """``strawberry.mutation`` on a resolver method, described by its docstring."""
    return strawberry.mutation(resolver, description=_doc(resolver))


def subscription(resolver: Callable[..., object]) -> StrawberryField:
    """``strawberry.subscription`` on a resolver method, described by its docstring."""
    return strawberry.subscription(resolver, description=_doc(resolver))

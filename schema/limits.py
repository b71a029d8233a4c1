"""Limits on what one GraphQL document may ask for."""

from __future__ import annotations

from contextlib import suppress

from graphql import ValidationContext, ValidationRule
from strawberry.extensions import QueryDepthLimiter


def depth_limit_rule(max_depth: int) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper than ``max_depth``.

    Built once per schema rather than by a ``QueryDepthLimiter`` per request: each of those
    makes a new rule class, so ValidationCache, whose key includes the rules, would never hit.
    """
    (check_depth,) = QueryDepthLimiter(max_depth=max_depth).validation_rules

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            # Strawberry's depth check crashes on a spread of an undefined fragment;
            # KnownFragmentNamesRule reports that document as invalid anyway.
            with suppress(KeyError):
                check_depth(context)

    return DepthLimit

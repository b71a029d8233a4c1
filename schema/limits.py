"""Limits on what one GraphQL document may ask for, checked before graphql-core's own rules.

A document is refused in two steps, each linear in its size:

- at parse time, past ``max_tokens`` lexical tokens (comments included): TOO_MANY_TOKENS;
- then by :func:`schema.cost.measure`, one pass over the document as written (fields, aliases,
  directives, arguments, variables) and one over each fragment and operation with the
  fragments' figures memoised (cost, depth, root fields).

Only a document within every limit reaches the standard validation rules, some of which are
quadratic (OverlappingFieldsCanBeMerged with many fields of one name): the limits keep them
fast. Each refusal is a GraphQLError whose ``extensions.code`` names the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, parse

TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
TOO_DEEP = "TOO_DEEP"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
TOO_MANY_ROOT_FIELDS = "TOO_MANY_ROOT_FIELDS"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"
TOO_MANY_ARGUMENTS = "TOO_MANY_ARGUMENTS"
TOO_MANY_VARIABLES = "TOO_MANY_VARIABLES"

LIMIT_CODES = frozenset(
    {
        TOO_MANY_TOKENS,
        TOO_DEEP,
        QUERY_TOO_COMPLEX,
        TOO_MANY_ROOT_FIELDS,
        TOO_MANY_FIELDS,
        TOO_MANY_ALIASES,
        TOO_MANY_DIRECTIVES,
        TOO_MANY_ARGUMENTS,
        TOO_MANY_VARIABLES,
    }
)

# graphql-core's message when parse() stops at max_tokens.
_TOKEN_LIMIT_MESSAGE = "Document contains more than"


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """What one document may ask for; app.settings builds it from the graphql_* settings.

    ``max_depth`` counts like Strawberry's QueryDepthLimiter did (root fields are level 0,
    introspection fields are not descended into). ``max_page_size`` is the engine's page
    ceiling: a paged field (one taking ``first``) is costed as returning that many items
    unless ``first`` is a smaller literal.
    """

    max_tokens: int = 5000
    max_depth: int = 10
    max_cost: int = 50_000
    max_root_fields: int = 30
    max_fields: int = 200
    max_aliases: int = 30
    max_directives: int = 50
    max_arguments: int = 100
    max_variables: int = 50
    max_page_size: int = 1000


def refusal(code: str, message: str) -> GraphQLError:
    """The error refusing a document for one limit (kept as is by schema.errors)."""
    return GraphQLError(message, extensions={"code": code})


def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    """``query`` parsed, or a GraphQLError: a syntax error, or TOO_MANY_TOKENS past
    ``max_tokens`` tokens, before the rest is read."""
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError as error:
        if _TOKEN_LIMIT_MESSAGE in error.message:
            raise refusal(
                TOO_MANY_TOKENS,
                f"the document has more than {max_tokens} tokens, the most allowed",
            ) from None
        raise

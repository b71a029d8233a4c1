"""What a GraphQL document asks for, measured in time linear in its size, and refused past
the limits (see schema.limits).

Two passes. The first walks every definition as written, counting fields (and fragment
spreads), aliases, directives, arguments and variable definitions, and noting which fragments
each fragment spreads. The second measures each fragment once, in an order where the
fragments it spreads come first, so a spread costs a lookup however many times the fragment
is spread and however deep the chain: the 30 fragments each spreading the next twice
(2^30 paths) are 31 walks. A fragment on a cycle is measured without the spread that closes
it (NoFragmentCyclesRule refuses such a document afterwards), so no walk loops.

- **cost**: 1 per field, plus its selection's cost times the items the field returns: a paged
  field (taking ``first``) ``first`` items when it is a literal, else the page ceiling; a list
  field ``LIST_SIZE`` (unless it is the list inside a page, which the page has counted).
- **depth**: as Strawberry's QueryDepthLimiter counted it: root fields at level 0, a field
  with a selection one level more than its deepest child, introspection fields (``__schema``)
  never descended into.
- **root fields**: fields at an operation's top level, fragments expanded.

Figures saturate just past the limit, so a fragment bomb stays a small integer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)

from schema.limits import (
    QUERY_TOO_COMPLEX,
    TOO_DEEP,
    TOO_MANY_ALIASES,
    TOO_MANY_ARGUMENTS,
    TOO_MANY_DIRECTIVES,
    TOO_MANY_FIELDS,
    TOO_MANY_ROOT_FIELDS,
    TOO_MANY_VARIABLES,
    GraphQLLimits,
    refusal,
)

# Items a list field is assumed to return when nothing in the document says how many.
LIST_SIZE = 5
PAGE_ARGUMENT = "first"


@dataclass(slots=True)
class Written:
    """Counts of the document as written, and the fragments each fragment spreads."""

    fields: int = 0
    aliases: int = 0
    directives: int = 0
    arguments: int = 0
    variables: int = 0
    spreads: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Shape:
    """A selection set's figures, its fragments expanded."""

    cost: int = 0
    depth: int = 0
    width: int = 0  # fields at its top level


NOTHING = Shape()


def measure(
    schema: GraphQLSchema, document: DocumentNode, limits: GraphQLLimits
) -> GraphQLError | None:
    """The refusal of the first limit ``document`` exceeds, or None."""
    written = Written()
    fragments: dict[str, list[FragmentDefinitionNode]] = {}
    spreads: dict[str, set[str]] = {}
    operations: list[OperationDefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            name = definition.name.value
            fragments.setdefault(name, []).append(definition)
            written.spreads = spreads.setdefault(name, set())
            _count_directives(definition.directives, written)
            _count(definition.selection_set, written)
        elif isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
            written.spreads = set()
            written.variables += len(definition.variable_definitions or ())
            for variable in definition.variable_definitions or ():
                _count_directives(variable.directives, written)
            _count_directives(definition.directives, written)
            _count(definition.selection_set, written)
    error = _check_written(written, limits)
    if error is not None:
        return error
    measurer = _Measurer(schema, limits)
    for name in _dependency_order(spreads):
        measurer.add_fragment(name, fragments[name])
    for operation in operations:
        error = measurer.check_operation(operation)
        if error is not None:
            return error
    return None


def _count(selection_set: SelectionSetNode, written: Written) -> None:
    for selection in selection_set.selections:
        _count_directives(selection.directives, written)
        if isinstance(selection, FieldNode):
            written.fields += 1
            written.aliases += selection.alias is not None
            written.arguments += len(selection.arguments or ())
            if selection.selection_set is not None:
                _count(selection.selection_set, written)
        elif isinstance(selection, InlineFragmentNode):
            _count(selection.selection_set, written)
        elif isinstance(selection, FragmentSpreadNode):
            # Counted with the fields: OverlappingFieldsCanBeMerged compares spreads in pairs.
            written.fields += 1
            written.spreads.add(selection.name.value)


def _count_directives(directives: Sequence[DirectiveNode] | None, written: Written) -> None:
    for directive in directives or ():
        written.directives += 1
        written.arguments += len(directive.arguments or ())


def _check_written(written: Written, limits: GraphQLLimits) -> GraphQLError | None:
    for count, most, code, what in (
        (written.fields, limits.max_fields, TOO_MANY_FIELDS, "fields and fragment spreads"),
        (written.aliases, limits.max_aliases, TOO_MANY_ALIASES, "aliases"),
        (written.directives, limits.max_directives, TOO_MANY_DIRECTIVES, "directives"),
        (written.arguments, limits.max_arguments, TOO_MANY_ARGUMENTS, "arguments"),
        (written.variables, limits.max_variables, TOO_MANY_VARIABLES, "variable definitions"),
    ):
        if count > most:
            return refusal(code, f"the document has {count} {what}, more than the {most} allowed")
    return None


def _dependency_order(spreads: dict[str, set[str]]) -> list[str]:
    """Fragment names, each after the fragments it spreads (but for a spread closing a cycle).

    Depth-first without recursion: a chain of spreads is as long as the document allows.
    """
    done: set[str] = set()
    order: list[str] = []
    for root in spreads:
        if root in done:
            continue
        done.add(root)
        stack = [(root, iter(spreads[root]))]
        while stack:
            name, children = stack[-1]
            for child in children:
                if child in spreads and child not in done:
                    done.add(child)
                    stack.append((child, iter(spreads[child])))
                    break
            else:
                stack.pop()
                order.append(name)
    return order


class _Measurer:
    """Measures selection sets against the schema, fragments memoised by name."""

    def __init__(self, schema: GraphQLSchema, limits: GraphQLLimits) -> None:
        self.schema = schema
        self.limits = limits
        self.cap = max(limits.max_cost, limits.max_root_fields) + 1
        self.fragments: dict[str, Shape] = {}
        self.page_types = _page_types(schema)

    def add_fragment(self, name: str, definitions: Iterable[FragmentDefinitionNode]) -> None:
        """Measure fragment ``name``; under a name defined twice (refused later by
        UniqueFragmentNamesRule), the larger figures of the two."""
        shapes = [
            self._selection_set(d.selection_set, self._type(d.type_condition.name.value))
            for d in definitions
        ]
        self.fragments[name] = Shape(
            cost=max(s.cost for s in shapes),
            depth=max(s.depth for s in shapes),
            width=max(s.width for s in shapes),
        )

    def check_operation(self, operation: OperationDefinitionNode) -> GraphQLError | None:
        root = self.schema.get_root_type(operation.operation)
        shape = self._selection_set(operation.selection_set, root)
        limits = self.limits
        name = f"operation '{operation.name.value}'" if operation.name else "the operation"
        if shape.depth > limits.max_depth:
            return refusal(
                TOO_DEEP,
                f"{name} is nested {shape.depth} levels deep, "
                f"more than the {limits.max_depth} allowed",
            )
        if shape.cost > limits.max_cost:
            return refusal(
                QUERY_TOO_COMPLEX,
                f"{name} costs {_over(shape.cost, self.cap, limits.max_cost)} (a field costs "
                f"1, times the items of each list around it: `first` of a page, else "
                f"{LIST_SIZE})",
            )
        if shape.width > limits.max_root_fields:
            kind = "mutations" if operation.operation == OperationType.MUTATION else "fields"
            return refusal(
                TOO_MANY_ROOT_FIELDS,
                f"{name} has too many root {kind}: "
                f"{_over(shape.width, self.cap, limits.max_root_fields)}",
            )
        return None

    def _type(self, name: str) -> GraphQLCompositeType | None:
        named = self.schema.get_type(name)
        return named if is_composite_type(named) else None

    def _selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLCompositeType | None
    ) -> Shape:
        cost = depth = width = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                width += 1
                cost += 1
                if selection.selection_set is None:
                    continue
                definition = self._field(parent, selection.name.value)
                child_type = _composite(definition)
                child = self._selection_set(selection.selection_set, child_type)
                cost += self._items(selection, definition, parent) * child.cost
                if not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + child.depth)
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                kind = self._type(condition.name.value) if condition else parent
                shape = self._selection_set(selection.selection_set, kind)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                shape = self.fragments.get(selection.name.value, NOTHING)
            cost += shape.cost
            depth = max(depth, shape.depth)
            width += shape.width
        return Shape(cost=min(cost, self.cap), depth=depth, width=min(width, self.cap))

    def _field(self, parent: GraphQLCompositeType | None, name: str) -> GraphQLField | None:
        return None if parent is None else self.schema.get_field(parent, name)

    def _items(
        self,
        selection: FieldNode,
        definition: GraphQLField | None,
        parent: GraphQLCompositeType | None,
    ) -> int:
        """How many items the field is costed as returning."""
        if definition is None:
            return 1
        if PAGE_ARGUMENT in definition.args:
            ceiling = self.limits.max_page_size
            for argument in selection.arguments or ():
                if argument.name.value == PAGE_ARGUMENT and isinstance(
                    argument.value, IntValueNode
                ):
                    return max(1, min(int(argument.value.value), ceiling))
            return ceiling
        if is_list_type(get_nullable_type(definition.type)) and parent not in self.page_types:
            return LIST_SIZE
        return 1


def _composite(definition: GraphQLField | None) -> GraphQLCompositeType | None:
    if definition is None:
        return None
    named = get_named_type(definition.type)
    return named if is_composite_type(named) else None


def _page_types(schema: GraphQLSchema) -> frozenset[GraphQLCompositeType]:
    """The types returned by paged fields: their lists hold one page, counted by the page."""
    pages: set[GraphQLCompositeType] = set()
    for named in schema.type_map.values():
        for definition in getattr(named, "fields", {}).values():
            if PAGE_ARGUMENT in getattr(definition, "args", {}):
                page = _composite(definition)
                if page is not None:
                    pages.add(page)
    return frozenset(pages)


def _over(value: int, cap: int, most: int) -> str:
    """``value``, more than ``most``: in words, and exact unless it saturated at ``cap``."""
    exceeds = f"more than the {most} allowed"
    return exceeds if value >= cap else f"{value}, {exceeds}"

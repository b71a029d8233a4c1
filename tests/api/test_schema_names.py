"""The schema's naming rules (docs/graphql.md), checked on what a client's introspection sees:
one argument name per concept, enums for enumerated values, one answer shape for deleteX.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
    get_named_type,
)

from resolvers import models
from resolvers.leases import DISCONNECTED, LEASE_EXPIRED
from schema import schema

ROOT = Path(__file__).resolve().parents[2]

# Arguments called `name` that name the thing itself, not a queue: a worker's label, and a
# schedule, whose name is its only identity.
NAME_ALLOWED = {
    ("Mutation", "registerWorker"),
    ("Mutation", "setScheduleEnabled"),
    ("Mutation", "deleteSchedule"),
    # A token's name is its only identity, as a schedule's is.
    ("Mutation", "createToken"),
    ("Mutation", "revokeToken"),
}
# Arguments that take an id, by the one name each concept has.
ID_ARGUMENTS = {"workerId", "taskId", "taskIds"}
# String-typed fields whose values are an open set, not an enumeration: error codes grow with
# the engine and are strings in every error's extensions.code too.
OPEN_STRINGS = {("ItemError", "code")}
ENUMERATED = {"state", "scope", "kind", "code"}


def client_view() -> GraphQLSchema:
    """The schema as a client rebuilds it from introspection, deprecated arguments included."""
    result = schema.execute_sync(get_introspection_query(input_value_deprecation=True))
    assert result.errors is None and result.data is not None
    return build_client_schema(result.data)  # type: ignore[arg-type]


def fields(view: GraphQLSchema) -> Iterator[tuple[str, str, GraphQLField]]:
    for type_name, kind in view.type_map.items():
        if isinstance(kind, GraphQLObjectType) and not type_name.startswith("__"):
            for name, field in kind.fields.items():
                yield type_name, name, field


def arguments(view: GraphQLSchema) -> Iterator[tuple[str, str, str, GraphQLArgument]]:
    for type_name, name, field in fields(view):
        for arg_name, arg in field.args.items():
            yield type_name, name, arg_name, arg


def test_a_queue_is_always_queue_and_an_id_always_says_whose() -> None:
    view = client_view()
    misnamed = []
    for type_name, field, arg_name, arg in arguments(view):
        if arg.deprecation_reason:
            continue
        named = get_named_type(arg.type)
        kind = None if named is None else named.name
        if (kind == "ID" and arg_name not in ID_ARGUMENTS) or arg_name == "id":
            misnamed.append(f"{type_name}.{field}({arg_name})")
        if arg_name == "name" and (type_name, field) not in NAME_ALLOWED:
            misnamed.append(f"{type_name}.{field}({arg_name})")
        if kind == "String" and "queue" in arg_name.lower() and arg_name not in {"queue", "queues"}:
            misnamed.append(f"{type_name}.{field}({arg_name})")
    assert misnamed == []


def test_every_deprecated_argument_names_its_replacement_beside_it() -> None:
    view = client_view()
    aliases = {}
    for type_name, field, arg_name, arg in arguments(view):
        if arg.deprecation_reason:
            replacement = re.fullmatch(r"Use `(\w+)`\.", arg.deprecation_reason)
            kind = view.type_map[type_name]
            assert isinstance(kind, GraphQLObjectType) and replacement is not None
            aliases[f"{type_name}.{field}({arg_name})"] = replacement.group(1)
            assert replacement.group(1) in kind.fields[field].args
    assert aliases == {
        "Query.task(id)": "taskId",
        "Query.queue(name)": "queue",
        "Query.worker(id)": "workerId",
        "Mutation.deleteWorker(id)": "workerId",
        "Mutation.deleteQueue(name)": "queue",
        "Mutation.configureQueue(name)": "queue",
        "Mutation.pauseQueue(name)": "queue",
        "Mutation.resumeQueue(name)": "queue",
        "Mutation.runTaskNow(id)": "taskId",
        "Mutation.deleteTask(id)": "taskId",
    }


def test_enumerated_values_are_enums() -> None:
    view = client_view()
    strings = [
        f"{type_name}.{name}"
        for type_name, name, field in fields(view)
        if name in ENUMERATED
        and not field.deprecation_reason
        and (type_name, name) not in OPEN_STRINGS
        and not isinstance(get_named_type(field.type), GraphQLEnumType)
    ]
    assert strings == []
    skipped = view.type_map["Skipped"]
    assert isinstance(skipped, GraphQLObjectType)
    assert skipped.fields["reason"].deprecation_reason is not None


def enum_values(view: GraphQLSchema, name: str) -> set[str]:
    kind = view.type_map[name]
    assert isinstance(kind, GraphQLEnumType)
    return set(kind.values)


def engine_event_kinds() -> set[str]:
    """Every event kind the engine and the app emit, read from their source."""
    kinds = {*models.STAT_FIELDS, LEASE_EXPIRED.event, DISCONNECTED.event}
    pattern = re.compile(r'observe\(\s*ctx,\s*"(\w+)"|kind="(\w+)"|"(\w+)" if \w+ else "(\w+)"')
    for source in [*ROOT.joinpath("resolvers").glob("*.py"), *ROOT.joinpath("app").glob("*.py")]:
        for match in pattern.finditer(source.read_text()):
            kinds.update(group for group in match.groups() if group)
    return kinds


def test_enum_values_are_the_strings_clients_already_read() -> None:
    view = client_view()
    # A report's answer may also say "dropped" (models.DROPPED): a state no stored task has.
    shown = {state.value for state in models.TaskState} | {models.DROPPED}
    assert enum_values(view, "TaskState") == shown
    assert enum_values(view, "Scope") == {scope.value for scope in models.Scope}
    assert enum_values(view, "SkipReason") == {"no_workers", "duplicate"}
    assert engine_event_kinds() <= enum_values(view, "EventKind")


def test_delete_mutations_answer_alike() -> None:
    view = client_view()
    assert view.mutation_type is not None
    mutations = view.mutation_type.fields
    deletes = {name: f for name, f in mutations.items() if re.match(r"(delete|remove)[A-Z]", name)}
    assert len(deletes) >= 8
    for name, field in deletes.items():
        if field.deprecation_reason:
            replacement = re.search(r"`(\w+)`", field.deprecation_reason)
            assert replacement is not None and replacement.group(1) in deletes, name
            continue
        answer = field.type
        assert isinstance(answer, GraphQLNonNull) and str(answer.of_type) == "Int", name

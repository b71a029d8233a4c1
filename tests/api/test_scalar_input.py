"""scalar_input_type: inputs built straight from the request's value, as Strawberry would."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.scalars import JSON

from schema.declare import input_type, object_type, scalar_input_type


@scalar_input_type
class Sample:
    """A sample input."""

    some_name: str
    data: JSON
    when: float | None = None
    flag: bool | None = strawberry.field(default=None, name="renamed")
    ident: strawberry.ID | None = None


@object_type
class Query:
    @strawberry.field
    def echo(self, value: Sample) -> str:
        return repr(value)


def test_values_arrive_under_their_python_names_with_defaults_for_omitted_ones() -> None:
    schema = strawberry.Schema(query=Query)
    result = schema.execute_sync(
        '{ echo(value: {someName: "a", data: {x: [1, 2]}, renamed: true, ident: "7"}) }'
    )
    assert result.errors is None
    expected = Sample(some_name="a", data={"x": [1, 2]}, flag=True, ident=strawberry.ID("7"))
    assert result.data == {"echo": repr(expected)}


def test_an_input_with_a_nested_input_is_refused() -> None:
    @input_type
    class Inner:
        n: int

    with pytest.raises(TypeError, match=r"Outer\.inner is not a scalar"):

        @scalar_input_type
        class Outer:
            inner: Inner

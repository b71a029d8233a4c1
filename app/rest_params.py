"""REST request parameters: the query string, a form body or a JSON body, merged (body wins).
A body must say it is JSON or a form (Content-Type); a request without a body needs none.

Only HTTP-level parsing happens here (text that must be UTF-8, JSON text, "true"/"false",
numbers given as text); types, required fields and limits are checked by the resolvers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File, create_form_parser
from starlette.requests import Request
from starlette.types import Scope

from resolvers.errors import InvalidInput, MalformedJson, UnsupportedMediaType

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
# Values of a GET /status option that mean "all", not a queue name to filter by.
_NO_FILTER = frozenset({"", "true", "1", "*"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class Params:
    """Request parameters, query and body merged (body wins), turned into Python values.

    Only HTTP-level parsing happens here; types, required fields and limits are checked by the
    resolvers. An empty string counts as absent.
    """

    def __init__(self, values: dict[str, Any], typed: frozenset[str] = frozenset()) -> None:
        self.values = values
        # The names whose values came from a JSON body: already JSON values, not text.
        self.typed = typed
        # Returns when the client has gone, for handlers that wait (long-poll claims).
        self.hung_up: Callable[[], Awaitable[object]] | None = None

    @classmethod
    async def read(cls, request: Request, list_as: str | None = None) -> Params:
        """The request's parameters; a JSON array body is taken as parameter ``list_as``
        (for batch routes), if given."""
        content_type = request.headers.get("content-type", "")
        return cls.parse(request.scope, content_type, await request.body(), list_as)

    @classmethod
    def parse(
        cls, scope: Scope, content_type: str, body: bytes, list_as: str | None = None
    ) -> Params:
        """As read, from the request's scope, its Content-Type header and its whole body."""
        # Most publishes carry a JSON body and no query string: skip parsing an empty one.
        query: bytes = scope.get("query_string", b"")
        values = _read_urlencoded(query, "query") if query else {}
        typed: frozenset[str] = frozenset()
        if body:
            from_body = _read_body(content_type, body, list_as)
            values.update(from_body)
            if _is_json(content_type):
                typed = frozenset(from_body)
        return cls(values, typed)

    def has(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value == "" else value

    def json(self, name: str, *, literals: frozenset[str] = frozenset()) -> Any:
        """A JSON value; a string is JSON text and is parsed, unless it is one of ``literals``."""
        value = self.text(name)
        if not isinstance(value, str) or value in literals:
            return value
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise MalformedJson(f"{name} is not valid JSON: {exc}", param=name) from None

    def any_json(self, name: str) -> Any:
        """Any JSON value (a result, a progress report): as given in a JSON body, where a
        string is a string; parsed from JSON text in a query string or a form."""
        if name in self.typed:
            return self.values.get(name)
        return self.json(name)

    def flag(self, name: str) -> bool | None:
        value = self.text(name)
        word = value.strip().lower() if isinstance(value, str) else value
        if word is None or isinstance(word, bool):
            return word
        if isinstance(word, str) and (word in _TRUE or word in _FALSE):
            return word in _TRUE
        raise InvalidInput(f"{name} must be true or false, not {value!r:.40}", param=name)

    def number(self, name: str, what: str = "a number", kind: type[float] = float) -> Any:
        """A number given as text is converted ("null" is None); other values pass through."""
        value = self.text(name)
        if not isinstance(value, str):
            return value
        if value.strip().lower() == "null":
            return None
        try:
            return kind(value)
        except ValueError:
            raise InvalidInput(f"{name} must be {what}", param=name) from None

    def option(self, name: str) -> Any:
        """A GET /status option's filter: None when given as a bare flag, else its value."""
        value = self.values.get(name)
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().lower() in _NO_FILTER:
            return None
        return value


def _read_body(header: str, body: bytes, list_as: str | None) -> dict[str, Any]:
    # The size limit is enforced for every route by app.body_limit, as the body is received.
    content_type = header.split(";")[0].strip().lower()
    is_json = _is_json(header)
    # Not text/plain, nor no type at all: a browser sends those cross-site without asking.
    if not is_json and content_type not in _FORM_TYPES:
        given = repr(content_type) if content_type else "none"
        raise UnsupportedMediaType(
            f"unsupported content type {given}: send a body as application/json or as a form "
            "(application/x-www-form-urlencoded, multipart/form-data)",
            param="body",
        )
    if not body.strip():
        return {}
    if content_type == "application/x-www-form-urlencoded":
        return _read_urlencoded(body, "body")
    if content_type == "multipart/form-data":
        return _read_multipart(header.encode("latin-1"), body)
    try:
        values = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _utf8(body, "the body", "body")
        raise MalformedJson(f"the body is not valid JSON: {exc}", param="body") from None
    if isinstance(values, list) and list_as is not None:
        return {list_as: values}
    if not isinstance(values, dict):
        raise InvalidInput("a JSON body must be an object of parameters", param="body")
    return values


def _is_json(header: str) -> bool:
    content_type = header.split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _read_urlencoded(raw: bytes, where: str) -> dict[str, Any]:
    """A query string or form body, strictly: each name and value must be UTF-8 once
    percent-decoded (Starlette's parsers would quietly turn bad bytes into other text).
    Names without a value are empty strings; of a repeated name, the last value counts."""
    values: dict[str, Any] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        key = _utf8(unquote_to_bytes(name.replace(b"+", b" ")), f"a name in the {where}", where)
        values[key] = _utf8(unquote_to_bytes(value.replace(b"+", b" ")), key, key)
    return values


def _read_multipart(content_type: bytes, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body; a file's content counts as its field's text value."""
    values: dict[str, Any] = {}

    def on_field(field: Field) -> None:
        key = _utf8(field.field_name or b"", "a name in the body", "body")
        values[key] = _utf8(field.value or b"", key, key)

    def on_file(file: File) -> None:
        key = _utf8(file.field_name or b"", "a name in the body", "body")
        file.file_object.seek(0)
        values[key] = _utf8(file.file_object.read(), key, key)
        file.close()

    # Files are kept in memory: the body limit has already bounded them.
    config = {"MAX_MEMORY_FILE_SIZE": len(body) + 1}
    try:
        parser = create_form_parser({"Content-Type": content_type}, on_field, on_file, config)
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise InvalidInput(f"the form body is malformed: {exc}", param="body") from None
    return values


def _utf8(raw: bytes, what: str, param: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} is not valid UTF-8 text", param=param) from None

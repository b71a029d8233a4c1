"""Just enough of nginx's configuration language to read docker/nginx.conf: directives and
blocks, and which location serves a path, by nginx's rules (exact "=" first, then the longest
prefix unless it is "^~", then the first matching regex in order, else that prefix)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def value(self, name: str) -> list[str] | None:
        """The arguments of the child directive ``name`` (the last one), None if unset."""
        found = self.children(name)
        return found[-1].args if found else None


@dataclass
class Config:
    directives: list[Directive] = field(default_factory=list)

    def servers(self) -> list[Directive]:
        return [d for d in self.directives if d.name == "server"]


def parse(text: str) -> Config:
    # No "#" inside a quoted value in our files: every one starts a comment.
    lexer = shlex.shlex(re.sub(r"#[^\n]*", "", text), posix=True, punctuation_chars=";{}")
    lexer.whitespace_split = True
    lexer.commenters = ""
    tokens = list(lexer)
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block: list[Directive] = []
            stack[-1].append(Directive(words[0], words[1:], block))
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"unfinished directive {words}"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced braces"
    return Config(stack[0])


def location_for(server: Directive, path: str) -> Directive:
    """The location block of ``server`` that nginx picks for ``path``."""
    locations = server.children("location")
    prefix: Directive | None = None
    for location in locations:
        modifier, target = _modifier(location)
        if modifier == "=" and path == target:
            return location
        longer = prefix is None or len(target) > len(_modifier(prefix)[1])
        if modifier in ("", "^~") and path.startswith(target) and longer:
            prefix = location
    if prefix is not None and _modifier(prefix)[0] == "^~":
        return prefix
    for location in locations:
        modifier, target = _modifier(location)
        flags = re.IGNORECASE if modifier == "~*" else 0
        if modifier in ("~", "~*") and re.search(target, path, flags):
            return location
    assert prefix is not None, f"no location serves {path}"
    return prefix


def _modifier(location: Directive) -> tuple[str, str]:
    if len(location.args) == 2:
        return location.args[0], location.args[1]
    return "", location.args[0]

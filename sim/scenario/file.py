"""Reading a scenario file safely: a regular file of bounded size, UTF-8 with the line of a bad
byte, and YAML whose anchors and aliases cannot make loading slower than linear.

The file is opened without blocking and refused unless it is a regular file (a FIFO or a device
such as /dev/zero never blocks or fills memory); it is read once, and its bytes are what the
scenario, its SHA-256 (provenance) and report.html's copy of it come from. YAML is composed once
into nodes, in which an alias is the anchored node itself; before anything walks the document
as data (which follows every alias), the size of the document with every alias expanded is
computed in one pass over the distinct nodes and refused past a small multiple of their number.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.reader import ReaderError

MAX_FILE_BYTES = 512 * 1024
"""Largest scenario file read (512 KiB, about 2,000 appliances' worth; a limit: `--no-limits`
lifts it). Composing YAML takes about 5 us per byte."""
ALIAS_EXPANSION = 10
"""A document with its aliases expanded may have at most this many times its distinct nodes
(plus `ALIAS_ALLOWANCE`): reuse of a link or policy is fine, a billion laughs is not."""
ALIAS_ALLOWANCE = 10_000
MAX_FLOW_DEPTH = 64
"""Most levels of `[` and `{` nested in a document: ruamel's scanner takes time quadratic in it."""
_READ_CHUNK = 1 << 16
_QUOTED_OR_COMMENT = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|(?:^|(?<=\s))#[^\n]*""", re.MULTILINE)
_BRACKET = re.compile(r"[\[\]{}]")


class InputError(Exception):
    """A problem with the file's bytes or YAML: `line` (1-based), `field` and `message`."""

    def __init__(self, line: int, field: str, message: str):
        super().__init__(message)
        self.line = line
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario file's path as given and its bytes, read once."""

    path: Path
    data: bytes

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes: what identifies the file in provenance."""
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def text(self) -> str:
        """The bytes as UTF-8; `InputError` names the line of the first byte that is not."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = self.data.count(b"\n", 0, err.start) + 1
            column = err.start - (self.data.rfind(b"\n", 0, err.start) + 1) + 1
            raise InputError(line, "(file)", f"byte 0x{self.data[err.start]:02x} at column {column} is not UTF-8 "
                                             f"text; save the file as UTF-8") from None


_SWEEP_KEY = re.compile(rb"""^["']?scenario["']?[ \t]*:""", re.MULTILINE)


def is_sweep_file(source: ScenarioFile) -> bool:
    """Whether a file is a sweep file rather than a scenario: it has a top-level `scenario:`
    field (the base scenario it varies), which no scenario has."""
    return _SWEEP_KEY.search(source.data) is not None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_scenario_file(path: str | Path, *, max_bytes: int | None = MAX_FILE_BYTES) -> ScenarioFile:
    """Read a scenario file; `max_bytes=None` lifts the size limit. Raises `InputError` for
    anything but a readable regular file within the limit, without blocking on it."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise InputError(1, "(file)", f"cannot read: {err.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(1, "(file)", f"cannot read: {_kind(mode)}, not a scenario file")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise InputError(1, "(file)", f"larger than the limit of {max_bytes // 1024:,} KiB for a scenario "
                                              f"file (--no-limits lifts it)")
    except OSError as err:
        raise InputError(1, "(file)", f"cannot read: {err.strerror}") from None
    finally:
        os.close(fd)
    return ScenarioFile(path, b"".join(chunks))


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, max(index, 0)) + 1


def compose(text: str) -> tuple[YAML, Node | None]:
    """The YAML node tree of `text` (round-trip, duplicate keys kept for `duplicate_keys` to
    report), and the YAML object that constructs data from it. Raises `InputError`."""
    _check_flow_depth(text)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise InputError(mark.line + 1 if mark is not None else 1, "(yaml)", str(err.problem or err.context)) from None
    except ReaderError as err:
        raise InputError(_line_at(text, err.position), "(yaml)", f"character {err.character!r} is not allowed "
                                                                 f"in YAML") from None
    except RecursionError:
        raise InputError(1, "(yaml)", "nested too deeply") from None
    except Exception as err:  # ruamel raises non-marked errors for some malformed input
        raise InputError(1, "(yaml)", str(err)) from None
    if node is not None:
        check_aliases(node)
    return yaml, node


def _check_flow_depth(text: str) -> None:
    """Refuse `[` and `{` nested past `MAX_FLOW_DEPTH` (outside quotes and comments), in one pass."""
    depth = 0
    blanked = _QUOTED_OR_COMMENT.sub(lambda m: " " * len(m.group()), text)  # same positions, same lines
    for bracket in _BRACKET.finditer(blanked):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_FLOW_DEPTH:
            raise InputError(_line_at(text, bracket.start()), "(yaml)",
                             f"nested too deeply (more than {MAX_FLOW_DEPTH} levels of [ and {{)")


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_aliases(root: Node) -> int:
    """The number of nodes of the document with every alias expanded, computed once per distinct
    node; raises `InputError` for an alias to an enclosing node (a cycle) or an expansion past
    `ALIAS_EXPANSION` times the distinct nodes (plus `ALIAS_ALLOWANCE`)."""
    expanded: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            continue
        if key in expanded:
            continue
        if key in open_nodes:
            raise InputError(node.start_mark.line + 1, "(yaml)", "an alias refers to a node that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise InputError(child.start_mark.line + 1, "(yaml)", "an alias refers to a node that contains it")
            if id(child) not in expanded:
                stack.append((child, False))
    total, distinct = expanded[id(root)], len(expanded)
    if total > ALIAS_EXPANSION * distinct + ALIAS_ALLOWANCE:
        raise InputError(1, "(yaml)", f"aliases expand the document's {distinct:,} nodes to {total:,} (at most "
                                      f"{ALIAS_EXPANSION} times as many); write the repeated parts out")
    return total


def construct(yaml: YAML, node: Node | None) -> Any:
    """The round-trip data (mappings and sequences that keep their line numbers) of a node tree."""
    if node is None:
        return None
    try:
        return yaml.constructor.construct_document(node)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise InputError(mark.line + 1 if mark is not None else 1, "(yaml)", str(err.problem or err.context)) from None
    except Exception as err:  # ruamel raises non-marked errors for some malformed input
        raise InputError(1, "(yaml)", str(err)) from None


def duplicate_keys(node: Node | None) -> list[tuple[int, tuple[str | int, ...], str]]:
    """(line, location, message) of every key given twice in one mapping of the node tree; a
    node reached through several aliases is looked at once."""
    problems: list[tuple[int, tuple[str | int, ...], str]] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, tuple[str | int, ...]]] = [(node, ())] if node is not None else []
    while stack:
        current, loc = stack.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in first_line:
                    problems.append((line, (*loc, key), f"duplicate key (first given on line {first_line[key]})"))
                else:
                    first_line[key] = line
                    stack.append((value_node, (*loc, key)))
        elif isinstance(current, SequenceNode):
            stack += [(item, (*loc, i)) for i, item in enumerate(current.value)]
    return sorted(problems)

"""Loading a scenario: YAML with line numbers, `--set` overrides, and problems as text.

Every problem is reported as `file:line: field: message`, with the line taken from the
round-trip YAML document (ruamel.yaml keeps positions; its round-trip loader builds only
plain mappings, sequences and scalars, so loading is safe; `sim.scenario.file` reads the file
and bounds its aliases). A problem with a `--set` value is blamed on the flag instead:
`file: --set 'PATH=VALUE': field: message`.

A file is parsed once (`parse_scenario`, the costly part for a large file) and may be validated
several times (`ScenarioDocument.validate`): `compare` checks the limits under each protocol.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.scenario.file import MAX_FILE_BYTES, InputError, ScenarioFile, compose, construct, duplicate_keys, read_scenario_file
from sim.scenario.schema import Loc, Scenario
from sim.scenario.validate import cross_reference_problems


class ScenarioError(Exception):
    """A scenario file that cannot be used; `problems` are `file:line: field: message`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def line_in(document: Any, loc: Loc) -> int:
    """1-based line of the deepest node of `loc` present in the round-trip document."""
    line = 1
    node = document
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and key in node:
                if lc is not None:
                    line = lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                if lc is not None:
                    line = lc.item(key)[0] + 1
                node = node[key]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    return line


_PLAIN_KEY = re.compile(r"^[^\s\[\].\"]+$")


def _field(loc: Loc) -> str:
    """`mirrors[1].schedule`, `volumes.A:/vol/db.size`: one word, whatever the keys hold (a
    key with spaces, dots or brackets is written `["..."]`, JSON-quoted, spaces escaped)."""
    text = ""
    for key in loc:
        if isinstance(key, int):
            text += f"[{key}]"
        elif _PLAIN_KEY.match(str(key)):
            text += f".{key}" if text else str(key)
        else:
            text += "[" + json.dumps(str(key)).replace(" ", "\\u0020") + "]"
    return text or "(file)"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def problem_text(path: Path, line: int, loc: Loc | str, message: str) -> str:
    """`file:line: field: message`, always one line."""
    field = loc if isinstance(loc, str) else _field(loc)
    return f"{path}:{line}: {field}: {_one_line(message)}"


def line_of(path: str | Path, loc: Loc) -> int:
    """1-based line of the field at `loc` (or of its deepest present parent) in a scenario file."""
    document, _problems = load_yaml(read_source(path, enforce_limits=False))
    return line_in(document, loc)


def read_source(path: str | Path, *, enforce_limits: bool = True) -> ScenarioFile:
    """Read a scenario file once (a regular file within `MAX_FILE_BYTES` unless limits are
    lifted); a `ScenarioError` says what is wrong with it."""
    try:
        return read_scenario_file(path, max_bytes=MAX_FILE_BYTES if enforce_limits else None)
    except InputError as err:
        raise ScenarioError([problem_text(Path(path), err.line, err.field, err.message)]) from None


def load_yaml(source: ScenarioFile, *, what: str = "a scenario", example: str = "`name: ...`") -> tuple[Any, list[str]]:
    """The round-trip document and the problems found while reading it (duplicate keys: the
    first value is kept, so that validation can go on and report everything at once)."""
    path = source.path
    try:
        yaml, node = compose(source.text)
        problems = [problem_text(path, line, loc, message) for line, loc, message in duplicate_keys(node)]
        document = construct(yaml, node)
    except InputError as err:
        raise ScenarioError([problem_text(path, err.line, err.field, err.message)]) from None
    if not isinstance(document, dict):
        raise ScenarioError([problem_text(path, 1, "(file)", f"{what} is a mapping of fields, e.g. {example}")])
    return document, problems


def pydantic_message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


_SET_STEP = re.compile(r"""\[(-?\d+)\]|\["([^"]*)"\]|\['([^']*)'\]|(\.?)([^.\[\]"']+)""")


def parse_set_path(text: str) -> Loc:
    """`mirrors[1].schedule` -> ("mirrors", 1, "schedule"). A key holding dots or brackets is
    quoted: `volumes["A:/vol/db.v2"].size`. Raises ValueError for anything else."""
    loc: list[str | int] = []
    at = 0
    while at < len(text):
        step = _SET_STEP.match(text, at)
        if step is None:
            break
        index, double, single, dot, plain = step.groups()
        if plain is not None and bool(dot) != bool(loc):  # a dot between keys, none before the first
            break
        loc.append(int(index) if index is not None else next(k for k in (double, single, plain) if k is not None))
        at = step.end()
    if at < len(text) or not loc:
        raise ValueError(f"cannot read the field path {text!r}; write e.g. mirrors[1].schedule")
    return tuple(loc)


def _apply_set(document: Any, text: str) -> tuple[Loc, str | None]:
    """Apply one `PATH=VALUE` to the round-trip document. Returns the field's location (list
    indexes made positive) and the problem, if any (with the location of what is missing)."""
    path_text, equals, value_text = text.partition("=")
    if not equals:
        return (), f"{text!r}: write PATH=VALUE, e.g. --set 'mirrors[1].schedule=0 */2 * * *'"
    try:
        loc = list(parse_set_path(path_text.strip()))
    except ValueError as err:
        return (), str(err)
    try:
        value = construct(*compose(value_text)) if value_text.strip() else None
    except InputError as err:
        return tuple(loc), f"cannot read the value {value_text!r} as YAML: {err.message}"
    node = document
    for depth, key in enumerate(loc):
        where = _field(tuple(loc[:depth])) if depth else "the file"
        if isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            key = loc[depth] = key % len(node)
        elif isinstance(node, list) and isinstance(key, int):
            return tuple(loc[:depth + 1]), f"{where} has {len(node)} items, no [{key}]"
        elif not isinstance(node, dict) or isinstance(key, int):
            kind = "a list" if isinstance(node, list) else "a mapping" if isinstance(node, dict) else "a single value"
            return tuple(loc[:depth + 1]), f"{where} is {kind}, it has no {key!r}"
        elif depth < len(loc) - 1 and key not in node:
            return tuple(loc[:depth + 1]), f"{where} has no field {key!r}"
        if depth == len(loc) - 1:
            node[key] = value
        else:
            node = node[key]
    return tuple(loc), None


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and every `*.yaml` file of each folder named (sorted); a folder
    without any is a `ScenarioError`."""
    files: list[Path] = []
    empty: list[str] = []
    for path in map(Path, paths):
        found = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        if not found:
            empty.append(problem_text(path, 1, "(file)", "a folder without *.yaml scenario files"))
        files += found
    if empty:
        raise ScenarioError(empty)
    return files


def _set_problem(path: Path, text: str, loc: Loc, message: str) -> str:
    """A problem caused by a `--set` value, blamed on the flag: `file: --set 'TEXT': field: message`
    (without the field when the text names none)."""
    field = f"{_field(loc)}: " if loc else ""
    return f"{path}: --set {shlex.quote(text)}: {field}{_one_line(message)}"


@dataclass(frozen=True)
class ScenarioDocument:
    """A scenario file read and parsed once, `--set` values applied: `validate` makes a
    `Scenario` of it as often as needed (`compare` validates it under each protocol, since the
    limits depend on the protocol) without reading the YAML again, which is most of the cost
    of loading a large file."""

    source: ScenarioFile
    document: Any
    """The round-trip document (mappings and sequences that know their lines)."""
    problems: tuple[str, ...]
    """Problems found while reading (keys given twice), reported with the validation's."""
    applied: tuple[tuple[Loc, str], ...]
    """Each `--set` applied: the field's location and the text, to blame the flag for its problems."""

    def _problem(self, loc: Loc, message: str) -> str:
        """`message` about the field at `loc`, blamed on the last `--set` that touched it, if any."""
        blamed = [text for s, text in self.applied if loc[:len(s)] == s or s[:len(loc)] == loc]
        if blamed:
            return _set_problem(self.source.path, blamed[-1], loc, message)
        return problem_text(self.source.path, line_in(self.document, loc), loc, message)

    def validate(self, overrides: dict[str, Any] | None = None, *, enforce_limits: bool = True) -> Scenario:
        """The validated, frozen scenario, with `overrides` replacing top-level fields (the
        command line's `--seed` and `--protocol`, checked by the command line itself); raise
        `ScenarioError` listing every problem. `enforce_limits=False` lifts the run limits."""
        problems = list(self.problems)
        data = dict(self.document)
        data.update(overrides or {})
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as err:
            locs = [tuple(key for key in error["loc"] if key != "[key]") for error in err.errors()]  # "[key]": a bad dict key
            problems += [self._problem(loc, pydantic_message(error)) for loc, error in zip(locs, err.errors())]
            raise ScenarioError(problems) from None
        problems += [self._problem(loc, message) for loc, message in cross_reference_problems(scenario, enforce_limits)]
        if problems:
            raise ScenarioError(problems)
        return scenario


def _with_sets(source: ScenarioFile, document: Any, problems: list[str], sets: Sequence[str]) -> ScenarioDocument:
    """`document` (changed in place) with `sets` applied, or a `ScenarioError` for a `--set` that
    cannot be applied."""
    applied: list[tuple[Loc, str]] = []
    for text in sets:
        loc, message = _apply_set(document, text)
        if message is None:
            applied.append((loc, text))
        else:
            problems.append(_set_problem(source.path, text, loc, message))
    if len(applied) < len(sets):
        raise ScenarioError(problems)
    return ScenarioDocument(source, document, tuple(problems), tuple(applied))


def parse_scenario(source: str | Path | ScenarioFile, *, sets: Sequence[str] = (),
                   enforce_limits: bool = True) -> ScenarioDocument:
    """Read (unless `source` is a file already read) and parse a scenario file, and apply `sets`,
    the command line's `--set PATH=VALUE` texts, to the document, so that an overridden value is
    validated like the file's and its problems are blamed on the `--set` that gave it. Raise
    `ScenarioError` for a file that cannot be read or parsed, or a `--set` that cannot be applied.
    `enforce_limits=False` lifts the limit on the file's size."""
    if not isinstance(source, ScenarioFile):
        source = read_source(source, enforce_limits=enforce_limits)
    document, problems = load_yaml(source)
    return _with_sets(source, document, problems, sets)


def with_sets(parsed: ScenarioDocument, sets: Sequence[str]) -> ScenarioDocument:
    """A document parsed once with `sets` applied to a copy of it: what `parse_scenario` gives
    with these `sets`, without parsing the YAML again (a sweep's runs share one base file)."""
    if parsed.applied:
        raise ValueError("apply sets to a document parsed without any")
    return _with_sets(parsed.source, copy.deepcopy(parsed.document), list(parsed.problems), sets)


def load_scenario(source: str | Path | ScenarioFile, overrides: dict[str, Any] | None = None, *,
                  sets: Sequence[str] = (), enforce_limits: bool = True) -> Scenario:
    """Read, validate and freeze a scenario (a path, or a file already read); raise
    `ScenarioError` listing every problem: `parse_scenario` then `ScenarioDocument.validate`.

    `sets` are `PATH=VALUE` texts (the command line's `--set`) applied to the document
    before validation, so an overridden value is checked like the file's; its problems are
    blamed on the `--set` that gave it. `overrides` replace top-level fields after them (the
    command line's `--seed` and `--protocol`, checked by the command line itself).
    `enforce_limits=False` lifts the limits on file size, duration, sizes and counts
    (`--no-limits`).
    """
    document = parse_scenario(source, sets=sets, enforce_limits=enforce_limits)
    return document.validate(overrides, enforce_limits=enforce_limits)

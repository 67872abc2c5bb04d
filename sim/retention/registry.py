"""The one registry of retention grammars: the key a scenario writes, how its value is read,
and the rule the engine runs.

A scenario's `retention:` (on a snapshot policy, or on a vault mirror for what its destination
keeps) is one rule or a list of rules; each rule is a mapping with one grammar key, and
`grid` and `last_n` may add a `regex`:

    retention: {keep: 6}                                          # keep-N, alone only
    retention: {grid: "1x1h(keep=all) | 24x1h | 14x1d", regex: "^zrepl_"}
    retention: [{last_n: 10}, {not_replicated: true}]             # a PCPI goes only if every rule lets it
    retention: {sanoid: {count: 24, period: 1h}}                  # period: a duration or hourly, daily, ...
    retention: {znapzend: "1h=>15min,3d=>1h"}
    retention: {btrbk: {preserve_min: 2d, preserve: "14d 4w 6m"}}
    retention: {thinner: "10,1d1w,1w1m,1m1y"}

`keep` is the NetApp keep-N rule (locked and busy PCPIs do not count toward N); the others
are the tools' grammars (`sim.retention.grammar`), adapted to a volume by `GrammarRetention`.
A new grammar is one file with a `Grammar` and one `GRAMMARS` entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.retention.base import RetentionRule
from sim.retention.btrbk import BtrbkPreserve
from sim.retention.grammar import Grammar
from sim.retention.grammar_rule import GrammarRetention
from sim.retention.keep_n import KeepN
from sim.retention.sanoid import PERIOD_S, Sanoid
from sim.retention.thinner import Thinner
from sim.retention.znapzend import ZnapzendPlan
from sim.retention.zrepl_grid import ZreplGrid
from sim.retention.zrepl_last_n import ZreplLastN, ZreplNotReplicated

KEEP = "keep"
"""The keep-N rule's key (a rule of its own, not a `Grammar`: it counts only unprotected PCPIs)."""


def _mapping(key: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected a mapping with {', '.join(required)}")
    missing = [k for k in required if k not in value]
    unknown = [k for k in value if k not in required + optional]
    if missing:
        raise ValueError(f"{key}: missing {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{key}: unknown setting {', '.join(map(str, unknown))} "
                         f"(allowed: {', '.join(required + optional)})")
    return value


def _sanoid(value: Any, _regex: str | None) -> Grammar:
    from sim.scenario.units import parse_duration

    setting = _mapping("sanoid", value, ("count", "period"))
    period = setting["period"]
    period_s = PERIOD_S[period] if isinstance(period, str) and period in PERIOD_S else parse_duration(period)
    return Sanoid.from_setting(setting["count"], period_s)


def _btrbk(value: Any, _regex: str | None) -> Grammar:
    setting = _mapping("btrbk", value, ("preserve_min", "preserve"), ("preserve_day_of_week", "preserve_hour_of_day"))
    for key in ("preserve_min", "preserve", "preserve_day_of_week"):
        if key in setting and not isinstance(setting[key], str):
            raise ValueError(f"btrbk {key}: expected text such as {BTRBK_EXAMPLES[key]!r}, got {setting[key]!r}")
    return BtrbkPreserve.from_setting(**setting)


BTRBK_EXAMPLES = {"preserve_min": "2d", "preserve": "14d 4w 6m", "preserve_day_of_week": "sunday"}


def _not_replicated(value: Any, _regex: str | None) -> Grammar:
    if value is True:
        return ZreplNotReplicated.from_setting()
    if not isinstance(value, dict):
        raise ValueError(f"not_replicated: write `not_replicated: true` or `not_replicated: "
                         f"{{keep_snapshot_at_cursor: false}}`, not {value!r}")
    setting = _mapping("not_replicated", value, (), ("keep_snapshot_at_cursor",))
    return ZreplNotReplicated.from_setting(**setting)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value


@dataclass(frozen=True)
class GrammarInfo:
    """A registered grammar: its key, whether a rule may carry `regex`, how its value is read
    (raising `ValueError` with a message for people), and what it models."""

    key: str
    takes_regex: bool
    build: Callable[[Any, str | None], Grammar]
    description: str


GRAMMARS: dict[str, GrammarInfo] = {info.key: info for info in (
    GrammarInfo("grid", True, lambda v, regex: ZreplGrid.from_setting(_text("grid", v), regex),
                "zrepl grid: adjacent age buckets, each keeping its oldest few"),
    GrammarInfo("last_n", True, lambda v, regex: ZreplLastN.from_setting(v, regex),
                "zrepl last_n: the newest N (matching the regex)"),
    GrammarInfo("not_replicated", False, _not_replicated,
                "zrepl not_replicated: what every destination has not received yet (sender side)"),
    GrammarInfo("sanoid", False, _sanoid, "sanoid: prune past count x period while more than count remain"),
    GrammarInfo("znapzend", False, lambda v, _r: ZnapzendPlan.from_setting(_text("znapzend", v)),
                "znapzend plan: retention=>interval bands of epoch-aligned slots"),
    GrammarInfo("btrbk", False, _btrbk, "btrbk preserve_min + preserve: the first of each hour, day, week, ..."),
    GrammarInfo("thinner", False, lambda v, _r: Thinner.from_setting(_text("thinner", v)),
                "zfs-autobackup thinner: the newest N plus one per block per rule"),
)}


def _grammar(rule: Any) -> Grammar:
    if not isinstance(rule, dict) or not rule:
        raise ValueError(f"a retention rule is a mapping such as {{keep: 6}} or {{grid: ...}}, not {rule!r}")
    keys = [k for k in rule if k != "regex"]
    if len(keys) != 1 or keys[0] not in GRAMMARS:
        unknown = [k for k in keys if k not in GRAMMARS and k != KEEP]
        if unknown or not keys:
            raise ValueError(f"unknown retention grammar {', '.join(map(str, unknown)) or '(none)'}; "
                             f"choose from {', '.join((KEEP, *GRAMMARS))}")
        if KEEP in keys:
            raise ValueError("keep stands alone (retention: {keep: N}); in a list of rules use last_n")
        raise ValueError(f"one grammar per rule, not {', '.join(keys)}: write a list of rules")
    info = GRAMMARS[keys[0]]
    regex = rule.get("regex")
    if regex is not None and not info.takes_regex:
        raise ValueError(f"{info.key} takes no regex (grid and last_n do)")
    return info.build(rule[info.key], regex)


def normalise(setting: Any) -> tuple[dict[str, Any], ...]:
    """A scenario's `retention:` as a tuple of rules, checked: raises `ValueError` naming what
    is wrong. `{keep: N}` must stand alone."""
    rules = tuple(setting) if isinstance(setting, list | tuple) else (setting,)
    if not rules:
        raise ValueError("an empty list of retention rules would keep nothing; give at least one rule")
    if len(rules) == 1 and isinstance(rules[0], dict) and set(rules[0]) == {KEEP}:
        keep = rules[0][KEEP]
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= 100_000:
            raise ValueError(f"keep {keep!r}: a whole number from 1 to 100000")
        return rules
    for index, rule in enumerate(rules):
        try:
            _grammar(rule)
        except ValueError as error:
            raise ValueError(f"rule {index + 1}: {error}" if len(rules) > 1 else str(error)) from None
    return rules


def build(rules: tuple[dict[str, Any], ...], start_ts: float) -> RetentionRule:
    """The engine's rule for checked `rules` (`normalise`), in a run whose t=0 is `start_ts`."""
    if len(rules) == 1 and set(rules[0]) == {KEEP}:
        return KeepN(rules[0][KEEP])
    return GrammarRetention(tuple(_grammar(rule) for rule in rules), start_ts)

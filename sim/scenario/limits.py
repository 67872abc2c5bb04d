"""Run limits: what keeps a run finite in time and memory, estimated before it starts.

Each limit is a clear error naming it; `--no-limits` (`enforce_limits=False`) lifts them all
(with a warning). The costs are measured in `bench/` (see the README's Limits section):

- schedule firings, counted exactly (`sim.scenario.schedule.count_firings`): every snapshot of every
  volume of a policy, every mirror update and every scheduled bandwidth change is one;
- random link failures and appliance crashes, by their expected number (each cycles through up
  and down times of means `mtbf` and `mttr`), and no mean up or down time, and no retry
  back-off, under a second;
- lock records a forwarding protocol carries: an update's lock set travels from the
  destination up to the head of its volume-mirror lineage, and each set holds a lock for every
  dataset below that has data by then. The estimate follows each mirror from its first
  possible transfer (a hop's destination can only send what reached it at an earlier update
  of the hop above, so data enters a deep chain one hop per round of updates);
- time-series rows, sizes in bytes, duration, and the size of the scenario file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.scenario.schedule import count_firings, first_firing

if TYPE_CHECKING:
    from sim.scenario.plan import Plan
    from sim.scenario.schema import Loc, MirrorSpec, Scenario

NO_LIMITS_HINT = "--no-limits lifts it"
MAX_DURATION_S = 10 * 365 * 86400.0
"""Longest simulated time a scenario may ask for (ten years)."""
MAX_SAMPLES = 2_000_000
"""Most time-series rows a run may produce (samples x sampled objects)."""
MAX_SCHEDULED_FIRINGS = 1_000_000
"""Most schedule firings (snapshots of each volume + mirror updates + bandwidth changes) a run may plan. The largest
run it accepts, a fleet of 3-deep chains under `softlock`, was measured in `bench/` (README)."""
MAX_LOCK_RECORDS = 10_000_000
"""Most lock records (records x hops) the forwarding protocols may carry, as `lock_records`
estimates them; bench/limits.py measured 9 us per record in deep chains (up to 31 us on a busy machine)."""
MAX_BYTES = float(2**60)
"""Largest size, capacity, bandwidth (per second) or total change over the run (1 EiB).
Bytes are floats: past this, one changed block would vanish in the rounding of the
cumulative changed bytes that incremental transfers subtract."""
MAX_RANDOM_FAILURES = 1_000_000
"""Most random link failures and appliance crashes a run may expect; each is a few events and
a reallocation of flows, like a schedule firing."""
MIN_FAILURE_MEAN_S = 1.0
"""Shortest `mtbf` or `mttr` of a random link failure or crash, and shortest retry back-off: a
link that flaps faster is more likely a unit mistake (`1s` for `1d`) than a scenario, and its
failures (or a transfer's retries) would swamp the run."""


def schedules(s: Scenario) -> list[tuple[Loc, str, int]]:
    """(location, cron expression, volumes it snapshots or 1 for a mirror or a bandwidth change)
    of every schedule."""
    found: list[tuple[Loc, str, int]] = [(("snapshot_policies", name, "schedule"), p.schedule, len(p.volumes))
                                         for name, p in s.snapshot_policies.items()]
    found += [(("mirrors", i, "schedule"), m.schedule, 1) for i, m in enumerate(s.mirrors)]
    found += [(("links", i, "bandwidth_schedule", j, "schedule"), change.schedule, 1)
              for i, link in enumerate(s.links) for j, change in enumerate(link.bandwidth_schedule)]
    return found


def planned_firings(s: Scenario) -> int:
    """How many scheduled snapshots, mirror updates and bandwidth changes a run of `s` plans, exactly."""
    start, end = s.start_ts, s.start_ts + s.duration
    per_expr: dict[str, int] = {}
    total = 0
    for _loc, expr, count in schedules(s):
        if expr not in per_expr:
            per_expr[expr] = count_firings(expr, start, end)
        total += count * per_expr[expr]
    return total


@dataclass
class _Hop:
    """A mirror in the lock-record estimate: when its destination may first hold data, how many
    hops its lock set travels up, and the mirrors below its destination."""

    spec: MirrorSpec
    ready_ts: float | None = None
    up: int = 1
    below: int = 0


def _forwards(name: str) -> bool:
    """Whether protocol `name`'s intermediates pass the locks they receive on upstream."""
    from sim.protocols.registry import protocol  # the registry's strategies read this package

    return protocol(name).strategy.forwards


def lock_records(plan: Plan) -> float:
    """Lock records (records x hops) the run's protocol carries, estimated from the mirror tree.

    For each mirror, from the first firing at which its source can have data: each update's set
    travels `up` hops (1, plus the volume-mirror hops between its source and the head of the
    source's lineage, for a forwarding protocol) and holds a lock for the destination and for
    each mirror below it that gets data before the end. `none` carries none; `local` one record
    one hop per update.
    """
    from sim.protocols.registry import protocol  # the registry's strategies read this package

    s = plan.scenario
    strategy = protocol(s.protocol).strategy
    if not strategy.sends_lock_sets:
        return 0.0
    start, end = s.start_ts, s.start_ts + s.duration
    hops: dict[str, _Hop] = {}  # by destination volume, sources before their destinations
    for spec in plan.mirrors_in_dependency_order:
        parent = hops.get(spec.source_volume)
        source_ready = start if parent is None else parent.ready_ts
        hop = hops[spec.destination_volume] = _Hop(spec)
        if source_ready is None:
            continue
        # A writable source takes a new PCPI at the update; a mirror destination sends what an
        # earlier update brought it, so the first useful firing is strictly after it had data.
        hop.ready_ts = first_firing(spec.schedule, source_ready if parent is None else source_ready + 1.0)
        if hop.ready_ts is not None and hop.ready_ts >= end:
            hop.ready_ts = None
        hop.up = len(plan.lineage(spec.source_volume)) if strategy.forwards else 1
    if strategy.forwards:
        for hop in reversed(list(hops.values())):  # destinations before their sources
            parent = hops.get(hop.spec.source_volume)
            if parent is not None and hop.ready_ts is not None:  # locks from below a qtree hop stop there
                parent.below += 1 + (hop.below if hop.spec.type == "volume" else 0)
    total = 0.0
    for hop in hops.values():
        if hop.ready_ts is not None:
            until = end if hop.spec.retire_at is None else min(end, start + hop.spec.retire_at)
            total += count_firings(hop.spec.schedule, hop.ready_ts, until) * hop.up * (1 + hop.below)
    return total


def limit_problems(plan: Plan, firings: int, *, mirrors_valid: bool = True) -> list[tuple[Loc, str]]:
    """Sizes, durations and counts past which a run of the planned scenario could not finish or
    fit in memory, given its `firings`. The lock records are estimated only when `mirrors_valid`
    (every mirror's source resolves)."""
    s = plan.scenario
    volumes = len(plan.volume_layout)
    problems: list[tuple[Loc, str]] = []
    if s.duration > MAX_DURATION_S:
        problems.append((("duration",), f"longer than the limit of {MAX_DURATION_S / 86400 / 365:.0f} years "
                                        f"({NO_LIMITS_HINT})"))
        return problems  # counting the firings of such a run is a cost of its own
    rows_per_sample = len(s.mirrors) + 3 * volumes + 2 * len(s.appliances) + len(s.links)
    rows = math.ceil(s.duration / s.sample_interval) * rows_per_sample
    if rows > MAX_SAMPLES:
        problems.append((("sample_interval",),
                         f"too fine: {rows:.3g} time-series rows (limit {MAX_SAMPLES:,}; {NO_LIMITS_HINT})"))
    if firings > MAX_SCHEDULED_FIRINGS:
        what = ("snapshots, updates and bandwidth changes" if any(link.bandwidth_schedule for link in s.links)
                else "snapshots and updates")
        problems.append((("duration",), f"plans {firings:,} scheduled {what} "
                                        f"(limit {MAX_SCHEDULED_FIRINGS:,}; {NO_LIMITS_HINT})"))
    elif mirrors_valid and _forwards(s.protocol):
        records = lock_records(plan)
        if records > MAX_LOCK_RECORDS:
            problems.append((("mirrors",), f"under {s.protocol}, lock sets would carry about {records:.3g} lock "
                                           f"records up the cascades (limit {MAX_LOCK_RECORDS:,}, a few minutes; "
                                           f"shorten the run or the chains; {NO_LIMITS_HINT})"))
    problems += _random_failure_problems(s)
    sizes: list[tuple[Loc, float]] = [(("appliances", n, "capacity"), a.capacity) for n, a in s.appliances.items()]
    sizes += [(("links", i, "bandwidth"), link.bandwidth) for i, link in enumerate(s.links)]
    sizes += [(("links", i, "bandwidth_schedule", j, "bandwidth"), change.bandwidth)
              for i, link in enumerate(s.links) for j, change in enumerate(link.bandwidth_schedule)]
    for name, v in s.volumes.items():
        sizes += [(("volumes", name, "size"), v.size), (("volumes", name, "change_rate"), v.change_rate * s.duration)]
        if v.autodelete is not None:
            sizes.append((("volumes", name, "autodelete", "trigger"), v.autodelete.trigger))
    for loc, value in sizes:
        if value > MAX_BYTES:
            what = "changes more than" if loc[-1] == "change_rate" else "is more than"
            per = " per second" if loc[-1] == "bandwidth" else ""
            over = " over the run" if loc[-1] == "change_rate" else ""
            problems.append((loc, f"{what} the limit of 1 EiB{per}{over} ({NO_LIMITS_HINT})"))
    return problems


def expected_random_failures(s: Scenario) -> float:
    """How many random link failures and appliance crashes a run of `s` expects: each entry
    cycles through up and down times of means `mtbf` and `mttr`, about duration / (mtbf + mttr) times."""
    cycles = [(failures.mtbf, failures.mttr) for failures in s.faults.links]
    cycles += [(crashes.mtbf, crashes.mttr) for crashes in s.faults.appliances.values()
               if crashes.mtbf is not None and crashes.mttr is not None]
    return sum(s.duration / (mtbf + mttr) for mtbf, mttr in cycles)


def _random_failure_problems(s: Scenario) -> list[tuple[Loc, str]]:
    """Random link failures or crashes that would flap faster than a second or happen too often
    in all, and retries sooner than a second after a break."""
    problems: list[tuple[Loc, str]] = []
    means: list[tuple[Loc, float | None]] = []
    for i, failures in enumerate(s.faults.links):
        means += [(("faults", "links", i, "mtbf"), failures.mtbf), (("faults", "links", i, "mttr"), failures.mttr)]
    for name, crashes in s.faults.appliances.items():
        means += [(("faults", "appliances", name, "mtbf"), crashes.mtbf),
                  (("faults", "appliances", name, "mttr"), crashes.mttr)]
    means += [(("mirrors", i, "on_break", "retry_after"), mirror.on_break.retry_after)
              for i, mirror in enumerate(s.mirrors) if mirror.on_break.policy != "stall"]
    for loc, mean_s in means:
        if mean_s is not None and mean_s < MIN_FAILURE_MEAN_S:
            problems.append((loc, f"shorter than the limit of {MIN_FAILURE_MEAN_S:g} s ({NO_LIMITS_HINT})"))
    expected = expected_random_failures(s)
    if expected > MAX_RANDOM_FAILURES:
        problems.append((("faults",), f"random link failures and crashes would happen about {expected:.3g} times "
                                      f"over the run (limit {MAX_RANDOM_FAILURES:,}; {NO_LIMITS_HINT})"))
    return problems

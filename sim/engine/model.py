"""The Model: the composition root of one run. It builds every component, wires them, starts
their processes and runs the clock; components never reach back into it.

Phases: build and wire (constructor) -> `start()` -> `run()` -> `finalise()`. The engine
(storage, snapshots, mirrors, network, locks, holds, faults, the dependency strategy) emits
domain events; the observers (oracle, mirror statistics, lock traffic, lock space, gaps,
space pressure, and, unless switched off, the tables and the sampler) subscribe to them and
make the summary and the tables. No module-level state.
"""

from __future__ import annotations

import gc
import re
import time
from concurrent.futures import Executor

import simpy

from sim.engine.cascade_changes import release, repoint
from sim.engine.clock import WallClock
from sim.engine.crashes import Crashes, break_on_link_down
from sim.engine.deletion import RETENTION, DeletionGate
from sim.engine.events import DomainEvents
from sim.engine.faults import link_outage, random_link_failures, retirement
from sim.engine.holds import ApplicationHolds
from sim.engine.lock_table import LockTable
from sim.engine.messages import message_faults
from sim.engine.mirror import MIRROR_LABEL, QTREE_MIRROR_LABEL, MirrorRelationship, MirrorServices
from sim.engine.network import Network, bandwidth_changes
from sim.engine.randomness import RandomStreams
from sim.engine.snapshots import SnapshotPolicy
from sim.engine.storage import Appliance, PcpiIds, StorageServices, Volume, configure_autodelete
from sim.observe.collectors import RunTables
from sim.observe.fault_log import FaultLog
from sim.observe.gaps import GapWatch
from sim.observe.lock_space import LockSpaceMeter, TotalLockTrace
from sim.observe.lock_traffic import LockTraffic
from sim.observe.mirrors import MirrorStats
from sim.observe.oracle import Oracle
from sim.observe.pile_up import PileUp
from sim.observe.sampler import Sampler
from sim.observe.space_pressure import SpacePressure
from sim.observe.summary import build_summary
from sim.protocols.base import Services
from sim.protocols.registry import protocol, strategy_config
from sim.results import Results
from sim.results.tables import Tables
from sim.retention.base import RetentionRule
from sim.retention.registry import build as build_retention
from sim.scenario import Plan, Scenario
from sim.scenario.schedule import ScheduleBook

GC_GEN0_THRESHOLD = 200_000
"""Allocations between young-generation collections during a run (Python's default: 700 or 2000)."""


class Model:
    """One simulation run of a scenario under its protocol and seed.

    `tables=False` switches the tables and the sampler off (a sweep that wants KPIs only, a
    benchmark): the summary is the same, the tables are empty. A run of one cascade of a bigger
    scenario (`sim.engine.cascade_runs`) keeps a `lock_trace`.
    """

    def __init__(self, scenario: Scenario, *, tables: bool = True, lock_trace: TotalLockTrace | None = None):
        self.scenario = scenario
        env = self.env = simpy.Environment()
        events = self.events = DomainEvents()
        self.clock = WallClock(scenario.start_ts)
        streams = self.streams = RandomStreams(scenario.seed)
        schedules = self.schedules = ScheduleBook(scenario.start_ts, scenario.duration)
        plan = self.plan = Plan(scenario)
        self.network = Network(env, plan)
        self.locks = LockTable(env, events)
        info = protocol(scenario.protocol)
        messages = message_faults(scenario.faults.messages, streams)
        self.strategy = info.strategy(info.name, Services(env, self.network, self.locks, events,
                                                          scenario.lock_record_bytes, messages),
                                      strategy_config(scenario))
        gate = DeletionGate(self.strategy)
        storage = StorageServices(env, events, self.locks, gate, PcpiIds())
        self.appliances = {name: Appliance(name, spec.capacity, None if spec.max_transfers is None
                                           else simpy.Resource(env, spec.max_transfers))
                           for name, spec in sorted(scenario.appliances.items())}
        self.volumes: dict[str, Volume] = {}
        for name, spec in scenario.volumes.items():
            volume = self.volumes[name] = Volume(
                name, self.appliances[name.partition(":")[0]], spec.size, storage, writable=True,
                change_rate_bps=spec.change_rate, change_cv=spec.change_variability, rng=streams.stream(name))
            if spec.autodelete is not None:
                configure_autodelete(volume, spec.autodelete)
        mirror_services = MirrorServices(env, self.network, self.strategy, self.locks, events, gate)
        self.relationships: list[MirrorRelationship] = []
        retention: dict[str, dict[str | None, list[RetentionRule]]] = {}
        for index, spec in enumerate(plan.mirrors_in_dependency_order):
            source = self.volumes[spec.source_volume]
            destination = self.volumes[spec.destination_volume] = Volume(
                spec.destination_volume, self.appliances[spec.destination.partition(":")[0]],
                plan.volume_layout[spec.destination_volume].size_bytes, storage, writable=False)
            share = plan.volume_layout[spec.source_volume].qtree_shares[spec.source_qtree] if spec.source_qtree else 1.0
            vault_rule = build_retention(spec.retention, scenario.start_ts) if spec.retention is not None else None
            if vault_rule is not None:
                retention[spec.destination_volume] = {None: [vault_rule]}
            if spec.autodelete is not None:
                configure_autodelete(destination, spec.autodelete)
            rel = MirrorRelationship(mirror_services, index, source, destination, schedules.firings(spec.schedule),
                                     spec.retire_at, kind=spec.type, source_name=spec.source,
                                     destination_name=spec.destination, qtree_share=share,
                                     retention=vault_rule, name_filter=re.compile(spec.filter) if spec.filter else None,
                                     on_break=spec.on_break, throttle_bps=spec.throttle)
            source.outgoing.append(rel)
            destination.incoming = rel
            self.relationships.append(rel)
        self.policies = []
        for name, spec in scenario.snapshot_policies.items():
            rule = build_retention(spec.rules, scenario.start_ts)
            for volume_name in spec.volumes:
                retention.setdefault(volume_name, {}).setdefault(spec.label, []).append(rule)
            self.policies.append(SnapshotPolicy(env, self.clock, gate, name, spec.label, rule,
                                                [self.volumes[v] for v in spec.volumes], schedules.firings(spec.schedule),
                                                self.network.appliance_up, events))
        self.crashes = Crashes(env, self.network, events, self.strategy, self.relationships)
        events.link_down.subscribe(break_on_link_down(self.relationships))
        self.holds = ApplicationHolds(env, self.locks, self.strategy, scenario.holds, events)
        self.oracle = Oracle(events)
        self.stats = MirrorStats(events, self.relationships)
        self.traffic = LockTraffic(events, sorted(scenario.appliances))
        self.pressure = SpacePressure(events)
        self.pile_up = PileUp(events)
        self.fault_log = FaultLog(events, sorted(scenario.appliances))
        self.gap_watch = GapWatch(events, plan, self.volumes, self.relationships,
                                  [(change.destination, change.source) for change in scenario.faults.repoints])
        rotated = {rel.destination.name: QTREE_MIRROR_LABEL for rel in self.relationships if rel.kind == "qtree"}
        strategy = self.strategy
        vetoed = (lambda volume, pcpi_id: strategy.vetoes(volume, pcpi_id, RETENTION)) if strategy.has_veto else None
        self.lock_space = LockSpaceMeter(events, plan, self.volumes, retention, rotated, MIRROR_LABEL, vetoed, lock_trace)
        self.tables = RunTables(events, self.oracle) if tables else None
        self.sampler = Sampler(env, scenario.sample_interval, scenario.duration, self.relationships, self.volumes,
                               self.appliances, self.network.links, self.stats, self.lock_space) if tables else None
        self.events_processed = 0

    def start(self) -> None:
        """Start every long-lived process, once everything is wired."""
        env = self.env
        for policy in self.policies:
            env.process(policy.take_scheduled_pcpis())
        for rel in self.relationships:
            rel.start()
        for rel in self.relationships:
            if rel.retire_at_s is not None:
                env.process(retirement(env, rel, rel.retire_at_s))
        for spec, link in zip(self.scenario.links, self.network.links):
            for outage in spec.outages:
                env.process(link_outage(env, self.network, self.events, link, outage.at, outage.for_))
        self._start_faults()
        if self.sampler is not None:
            env.process(self.sampler.sample())

    def _start_faults(self) -> None:
        """Start the processes of the scenario's faults: random link failures and bandwidth
        schedules, appliance crashes (scheduled and random), each random process drawing from
        its own stream, and cascade changes."""
        env, faults = self.env, self.scenario.faults
        for failures in faults.links:
            link = self.network.link_between(*failures.between)
            rng = self.streams.stream(f"link-failures:{link.name}")
            env.process(random_link_failures(env, self.network, self.events, link, rng, failures))
        for spec, link in zip(self.scenario.links, self.network.links):
            if spec.bandwidth_schedule:
                changes = bandwidth_changes((self.schedules.firings(change.schedule), change.bandwidth)
                                            for change in spec.bandwidth_schedule)
                env.process(self.network.follow_bandwidth_schedule(link, changes))
        for name, spec in sorted(faults.appliances.items()):
            for window in spec.crashes:
                env.process(self.crashes.window(name, window.at, window.for_))
            if spec.mtbf is not None:
                env.process(self.crashes.random(name, spec, self.streams.stream(f"appliance-crashes:{name}"),
                                                self.scenario.duration))
        by_destination = {rel.destination.name: rel for rel in self.relationships}
        for change in faults.repoints:
            env.process(repoint(env, by_destination[change.destination], self.volumes[change.source], change.at))
        for change in faults.releases:
            env.process(release(env, by_destination[change.destination], change.at))

    def run(self, until_s: float | None = None) -> None:
        """Process every event before the end of the run (or `until_s`), counting them.

        A run allocates many short-lived objects (events, generator frames, rows waiting to be
        spilled) and few cycles; with Python's default thresholds the cyclic garbage collector
        would scan the young ones about every 700 allocations, so it runs less often while the
        simulation runs (10 chains x 30 days with tables: 2.8 s of loop CPU against 3.3 s).
        """
        env = self.env
        until = self.scenario.duration if until_s is None else min(until_s, self.scenario.duration)
        step, peek = env.step, env.peek
        meter = self.lock_space
        processed = 0
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
        try:
            with self.events.dispatching_directly():
                next_s = peek()
                while next_s < until:
                    step()
                    processed += 1
                    next_s = peek()  # a flush schedules nothing: still the next event's time after it
                    if meter.dirty and next_s > env.now:
                        meter.flush(env.now)
        finally:
            gc.set_threshold(*thresholds)
        if meter.dirty:
            meter.flush(env.now)
        self.events_processed += processed

    def finalise(self, wall_seconds: float) -> Results:
        """Close open records at the end of the run and build the summary and tables."""
        end = self.scenario.duration
        self.lock_space.flush(self.env.now)
        for rel in self.relationships:
            rel.report_in_flight(end)
        volumes = list(self.volumes.values())
        tables = Tables({})
        if self.tables is not None and self.sampler is not None:
            self.tables.close(volumes)
            self.locks.close(volumes)
            tables = Tables({**self.tables.finish(), "timeseries": self.sampler.timeseries.finish()})
        summary = build_summary(self.scenario, end, self.events_processed, wall_seconds, self.relationships, volumes,
                                self.network.links, self.oracle, self.stats, self.traffic, self.lock_space,
                                self.gap_watch, self.pressure, self.pile_up, self.fault_log,
                                list(self.appliances.values()))
        return Results.of_run(self.scenario, summary, tables)


def run_whole(scenario: Scenario, tables: bool = True) -> Results:
    """Build, start, run and finalise one `Model` of all of `scenario` (`tables=False`: the summary only)."""
    started = time.perf_counter()
    model = Model(scenario, tables=tables)
    model.start()
    model.run()
    return model.finalise(time.perf_counter() - started)


def simulate(scenario: Scenario, tables: bool = True, executor: Executor | None = None) -> Results:
    """The results of `scenario` (`tables=False`: the summary only): one run of a scenario of one
    cascade; a scenario of several independent cascades is run cascade by cascade (on
    `executor`'s workers when one is given) and merged (`sim.engine.cascade_runs`), and its
    results are the same whatever ran them."""
    from sim.engine.cascade_runs import simulate_cascades  # it builds Models: imported when first needed

    return simulate_cascades(scenario, tables=tables, executor=executor)

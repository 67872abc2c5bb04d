"""Shared-link benchmark: what it costs when many transfers share one WAN link.

Builds N A_i -> B_i -> C_i volume chains (the chains of `bench/scale.py`: one head volume with
hourly snapshots, mirrored every 15 minutes down each hop) in two topologies:

- `shared`: every B_i sits behind router R1 and every C_i behind router R2, and the one WAN
  link R1 - R2 carries every B_i -> C_i transfer; the A_i - B_i, B_i - R1 and R2 - C_i links
  are each chain's own.
- `control`: the same chains with nothing in common: each has its own routers R1_i, R2_i and
  its own WAN link R1_i - R2_i.

The shared WAN link has N times the control's per-chain WAN bandwidth (`--wan-per-chain`,
1 Gbit/s by default), so that on average a transfer gets the same rate in both and the runs
differ only in how many flows share a link (`--shared-wan GBPS` fixes it instead: the link
then saturates as N grows, transfers overlap longer and updates get skipped). Max-min fair
sharing recomputes every flow of a connected group whenever one starts or ends
(`Network._reallocate`). Until issue 15 it also scheduled a new completion timeout for each
flow, leaving the old one in the heap to be ignored when it fired: with N flows on one link
each update cost O(N) stale timeouts, O(N^2) per round of updates. Now a group has one
completion timer (for its flow that finishes first), so events per update should not depend
on N; the recomputation itself still walks the group's N flows at every start and end.

For each N it prints, for both topologies: events, completed mirror updates (from the
summary), events per update, CPU seconds of the event loop alone (`time.process_time`; build,
start and finalise apart) and CPU per update; then the shared/control ratios. A run whose loop
would pass `--cpu-budget` CPU seconds stops at the end of the simulated hour in which it
passed it, and its row says how many simulated days it covered (the per-update figures are
over those days). `--count-stale` also counts the completion timers that fire after their
flow's group was re-timed (stale), by wrapping the network's `_finish` on the instance; it
slows the loop a little, so its CPU figures are not comparable with runs without it.

    python bench/shared_wan.py [--chains 10 30 100 300] [--days 2] [--protocol none]
                               [--wan-per-chain 1 | --shared-wan GBPS] [--cpu-budget 240]
                               [--count-stale] [--tables kpis|all] [--no-limits]

Rows are merged into a JSON list (default `results/bench/shared_wan.json`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scale import format_row, format_table, load_document, merge_into

from sim.engine.model import Model
from sim.protocols.registry import names as protocol_names
from sim.scenario import Scenario, ScenarioError

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "shared_wan.json"
EXIT_BAD_INPUT = 2
DEFAULT_CHAINS = (10, 30, 100, 300)
CHUNK_S = 3600.0
"""The loop runs in chunks of this much simulated time, checking its CPU budget between them."""
COLUMNS = ("chains", "topology", "days_run", "events", "updates", "events_per_update", "loop_cpu_s",
           "cpu_ms_per_update", "stale_share")
KEY = ("chains", "topology", "days", "protocol", "tables", "wan_per_chain_gbps", "shared_wan_gbps", "count_stale")


def chains_document(chains: int, days: int, protocol: str, seed: int, *, shared: bool,
                    wan_per_chain_gbps: float, shared_wan_gbps: float | None = None) -> dict[str, Any]:
    """`chains` A_i -> B_i -> C_i chains whose B_i -> C_i hops cross one shared WAN link (`shared`)
    or each their own (control), as a YAML-ready dict. The shared link carries `shared_wan_gbps`,
    or `chains` x `wan_per_chain_gbps` when None; each control WAN link `wan_per_chain_gbps`."""
    appliances: dict[str, Any] = {}
    routers: list[str] = ["R1", "R2"] if shared else []
    links: list[dict[str, Any]] = []
    volumes: dict[str, Any] = {}
    mirrors: list[dict[str, Any]] = []
    for i in range(chains):
        a, b, c = f"A{i}", f"B{i}", f"C{i}"
        for name in (a, b, c):
            appliances[name] = {"capacity": "4TiB"}
        r1, r2 = ("R1", "R2") if shared else (f"R1_{i}", f"R2_{i}")
        links.append({"between": [a, b], "bandwidth": "10Gbit/s", "latency": "1ms"})
        links.append({"between": [b, r1], "bandwidth": "10Gbit/s", "latency": "1ms"})
        links.append({"between": [r2, c], "bandwidth": "10Gbit/s", "latency": "1ms"})
        if not shared:
            routers += [r1, r2]
            links.append({"between": [r1, r2], "bandwidth": f"{wan_per_chain_gbps:g}Gbit/s", "latency": "20ms"})
        volumes[f"{a}:/vol/data"] = {"size": "200GiB", "change_rate": "5GiB/h", "change_variability": 0.3}
        mirrors.append({"source": f"{a}:/vol/data", "destination": f"{b}:/vol/data", "type": "volume",
                        "schedule": "*/15 * * * *"})
        mirrors.append({"source": f"{b}:/vol/data", "destination": f"{c}:/vol/data", "type": "volume",
                        "schedule": "*/15 * * * *"})
    if shared:
        wan_gbps = chains * wan_per_chain_gbps if shared_wan_gbps is None else shared_wan_gbps
        links.append({"between": ["R1", "R2"], "bandwidth": f"{wan_gbps:g}Gbit/s",
                      "latency": "20ms"})
    return {
        "name": f"shared_wan-{chains}-{'shared' if shared else 'control'}-{days}d",
        "seed": seed,
        "duration": f"{days}d",
        "protocol": protocol,
        "sample_interval": "1d",
        "appliances": appliances,
        "routers": routers,
        "links": links,
        "volumes": volumes,
        "snapshot_policies": {
            "hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 24, "volumes": list(volumes)},
        },
        "mirrors": mirrors,
    }


def count_stale_finishes(model: Model) -> dict[str, int]:
    """Count the network's completion timer callbacks, and the stale ones among them (the
    flow's group was re-timed after the timer was set, or the flow is done): wraps `_finish` on
    this model's network instance only (the engine's code is untouched)."""
    network = model.network
    finish: Callable[..., None] = network._finish
    counts = {"finishes": 0, "stale": 0}

    def counting_finish(flow: Any, version: int, event: Any) -> None:
        counts["finishes"] += 1
        if version != flow.version or flow.done.triggered:
            counts["stale"] += 1
        finish(flow, version, event)

    network._finish = counting_finish  # type: ignore[method-assign]
    return counts


def measure(scenario: Scenario, *, tables: bool, cpu_budget_s: float, count_stale: bool) -> dict[str, Any]:
    """Build, start, run (in chunks, within the CPU budget) and finalise one model; its loop
    CPU, events, completed updates, simulated days covered and stale completion timeouts."""
    model = Model(scenario, tables=tables)
    counts = count_stale_finishes(model) if count_stale else None
    model.start()
    loop_cpu_s = 0.0
    reached = 0.0
    while reached < scenario.duration and loop_cpu_s <= cpu_budget_s:
        reached = min(reached + CHUNK_S, scenario.duration)
        started = time.process_time()
        model.run(reached)
        loop_cpu_s += time.process_time() - started
    results = model.finalise(0.0)
    updates = results.summary["kpis"]["updates_completed"]
    events = model.events_processed
    return {
        "days_run": round(reached / 86400, 3),
        "events": events,
        "updates": updates,
        "events_per_update": round(events / updates, 2) if updates else None,
        "loop_cpu_s": round(loop_cpu_s, 3),
        "cpu_ms_per_update": round(1000 * loop_cpu_s / updates, 4) if updates else None,
        "stale_timeouts": counts["stale"] if counts else None,
        "stale_share": round(counts["stale"] / events, 3) if counts and events else None,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark N cascades whose B -> C hops share one WAN link.")
    parser.add_argument("--chains", type=int, nargs="+", default=list(DEFAULT_CHAINS),
                        help="numbers of chains to run (default: 10 30 100 300)")
    parser.add_argument("--days", type=int, default=2, help="simulated days (default 2)")
    parser.add_argument("--protocol", choices=protocol_names(), default="none")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wan-per-chain", type=float, default=1.0, dest="wan_per_chain_gbps",
                        help="WAN Gbit/s per chain: the control's WAN links, and 1/N of the shared one (default 1)")
    parser.add_argument("--shared-wan", type=float, default=None, dest="shared_wan_gbps",
                        help="Gbit/s of the shared WAN link whatever N (default: N x --wan-per-chain); "
                             "a fixed link saturates as N grows and its mirrors skip updates")
    parser.add_argument("--tables", choices=("kpis", "all"), default="kpis",
                        help="kpis: build the models with tables=False (default); all: every table")
    parser.add_argument("--cpu-budget", type=float, default=240.0,
                        help="stop a run's loop after the simulated hour in which it passes this many CPU seconds")
    parser.add_argument("--count-stale", action="store_true",
                        help="count stale completion timers (slows the loop a little)")
    parser.add_argument("--no-limits", action="store_true", help="load with the run limits lifted")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON list of runs to merge the rows into (default: results/bench/shared_wan.json)")
    args = parser.parse_args(argv)
    if min(args.chains) < 1 or args.days < 1:
        parser.error("--chains and --days must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[dict[str, Any]] = []
    for chains in args.chains:
        pair: dict[str, dict[str, Any]] = {}
        for topology in ("shared", "control"):
            document = chains_document(chains, args.days, args.protocol, args.seed, shared=topology == "shared",
                                       wan_per_chain_gbps=args.wan_per_chain_gbps, shared_wan_gbps=args.shared_wan_gbps)
            try:
                scenario = load_document(document, enforce_limits=not args.no_limits)
            except ScenarioError as err:
                print("\n".join(err.problems), file=sys.stderr)
                return EXIT_BAD_INPUT
            measured = measure(scenario, tables=args.tables == "all", cpu_budget_s=args.cpu_budget,
                               count_stale=args.count_stale)
            row = {"chains": chains, "topology": topology, "days": args.days, "protocol": args.protocol,
                   "tables": args.tables, "wan_per_chain_gbps": args.wan_per_chain_gbps,
                   "shared_wan_gbps": args.shared_wan_gbps,
                   "count_stale": args.count_stale, **measured}
            merge_into(args.out, row, KEY)
            rows.append(row)
            pair[topology] = row
            print(format_row(row), flush=True)
        shared, control = pair["shared"], pair["control"]
        if shared["events_per_update"] and control["events_per_update"]:
            print(f"  {chains} chains: shared/control events per update "
                  f"{shared['events_per_update'] / control['events_per_update']:.2f}, CPU per update "
                  f"{shared['cpu_ms_per_update'] / control['cpu_ms_per_update']:.2f}", flush=True)
    print()
    print(format_table(rows, COLUMNS))
    print(f"merged into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

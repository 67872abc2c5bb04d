"""Links, fair-share flows and control messages over the topology graph.

A bulk transfer is one `Flow` along a routed path. Concurrent flows share every link
max-min fairly (progressive filling), and a flow may have a cap (a mirror's throttle): a flow
whose cap is below its fair share gets its cap and the others share the rest (max-min
fairness with demands). Allocations are recomputed only for the flows connected, through
shared links, to the flow or link that changed, and only when a flow starts, ends, or a link
goes down, comes up or changes its bandwidth.

Completions are timed per connected group, not per flow. A reallocation walks whole groups
(every flow reachable through shared links from what changed), and so does any later change
to a group: a flow joining it, one ending or being cancelled (the pieces it leaves are walked
from all of its links), a link of it going down or up or changing its bandwidth. The flows of
a group are therefore re-timed together or not at all, and the group needs one SimPy timeout:
for its flow that finishes first (remaining bytes over rate; of flows finishing at the same
instant, the first to get its rate, which is the one the heap would give first). When it
fires, that flow ends, which re-times the rest of its group and sets the next timer. A
reallocation that re-times a group leaves its previous timer in the heap, ignored when it
fires (its flow's version no longer matches): one stale event per reallocation, however many
flows share a link. Finish times are `now + remaining / rate` as before, so they are the
same floats as with one timeout per flow.

A link has a nominal bandwidth (the scenario's `bandwidth`) and a current capacity, which a
bandwidth schedule changes and which the allocator shares. Utilisation is always relative to
the nominal bandwidth, so a link throttled to half its bandwidth and saturated is 50 % used
(and one raised above it can exceed 100 %).

Each link integrates the rate allocated to its flows over time (its busy fraction, its
utilisation per sampling interval and its peak), counts the bytes of its flows exactly (a
finished flow's size, and what a running one has sent so far), and its time down exactly
(its availability).

A link in an outage has zero capacity: flows across it stall and resume where they were
when the link returns (a mirror that would rather break its transfer and retry cancels its
flow: `sim.engine.crashes.break_on_link_down`). The last byte arrives one
path latency after the flow's bytes have been sent, so a transfer on an idle path takes
latency + bytes / bandwidth. The flow's `done` event is triggered when its last byte is sent
and fires one latency later: a transfer costs one event for its end, not two.

Control messages (soft-lock sets) are small: they pay the path latency plus
size / (narrowest current capacity) and wait for every link of the path to be up, but do not
take bandwidth from bulk flows.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from functools import partial
from typing import Any

import simpy
from simpy.events import NORMAL

from sim.scenario.plan import Plan


class Link:
    """A bidirectional link, shared max-min fairly by its flows: its nominal bandwidth (what
    utilisation is relative to) and its current capacity (what its flows share while it is up)."""

    __slots__ = ("index", "name", "bandwidth_bps", "capacity_bps", "latency_s", "down_count", "flows", "_up_event",
                 "bytes_carried", "rate_integral", "busy_s", "peak_rate_bps", "rate_bps", "_since_s",
                 "down_s", "down_since_s", "outages")

    def __init__(self, index: int, name: str, bandwidth_bps: float, latency_s: float):
        self.index = index
        self.name = name
        self.bandwidth_bps = bandwidth_bps
        """The scenario's `bandwidth`: the denominator of every utilisation."""
        self.capacity_bps = bandwidth_bps
        """What its flows share while it is up; a bandwidth schedule changes it."""
        self.latency_s = latency_s
        self.down_count = 0
        """Outages in progress (fixed windows and random failures may overlap)."""
        self.flows: dict[Flow, None] = {}
        self._up_event: simpy.Event | None = None
        self.bytes_carried = 0.0
        """Bytes of the flows that finished crossing it."""
        self.rate_integral = 0.0
        """Integral of the allocated rate up to `_since_s` (bytes, up to float rounding)."""
        self.busy_s = 0.0
        """Time with a positive allocated rate, up to `_since_s`."""
        self.peak_rate_bps = 0.0
        self.rate_bps = 0.0
        """Sum of the rates of its flows since `_since_s`."""
        self._since_s = 0.0
        self.down_s = 0.0
        """Time down in the down periods that have ended."""
        self.down_since_s = 0.0
        """When the current down period started (meaningful while it is down)."""
        self.outages = 0
        """Down periods started (overlapping outages make one)."""

    @property
    def up(self) -> bool:
        return self.down_count == 0

    def down_time(self, now: float) -> float:
        """Time down over [0, now], the current down period included."""
        return self.down_s + (now - self.down_since_s if self.down_count else 0.0)

    def integrate(self, now: float) -> None:
        """Account the current rate from the last change up to `now`."""
        elapsed = now - self._since_s
        if elapsed > 0 and self.rate_bps > 0:
            self.rate_integral += self.rate_bps * elapsed
            self.busy_s += elapsed
        self._since_s = now

    def usage(self, end_s: float) -> dict[str, float]:
        """Over [0, end_s]: bytes carried, mean utilisation, busy fraction and peak utilisation
        (relative to the nominal bandwidth), availability (the fraction of the time it was up)
        and outages (down periods started)."""
        self.integrate(end_s)
        carried = self.bytes_carried + sum(flow.sent_bytes(end_s) for flow in self.flows)
        capacity = self.bandwidth_bps * end_s
        return {"bytes": carried,
                "mean_utilisation": carried / capacity if capacity > 0 else 0.0,
                "busy_fraction": self.busy_s / end_s if end_s > 0 else 0.0,
                "peak_utilisation": self.peak_rate_bps / self.bandwidth_bps,
                "availability": 1.0 - self.down_time(end_s) / end_s if end_s > 0 else 1.0,
                "outages": self.outages}


class Flow:
    """Bytes in transit along a path, at most `cap_bps` (None: no cap). `done` is triggered
    when the last byte has been sent and fires when it has arrived, one path latency later
    (a flow of no bytes never triggers it: `Network.complete` waits the latency alone)."""

    __slots__ = ("links", "remaining_bytes", "rate_bps", "last_s", "version", "done", "size_bytes", "cap_bps")

    def __init__(self, links: tuple[Link, ...], size_bytes: float, done: simpy.Event, now: float,
                 cap_bps: float | None = None):
        self.links = links
        self.size_bytes = size_bytes
        self.cap_bps = cap_bps
        self.remaining_bytes = size_bytes
        self.rate_bps = 0.0
        self.last_s = now
        self.version = 0
        self.done = done

    def sent_bytes(self, now: float) -> float:
        """Bytes that have left the source by `now`."""
        if self.done.triggered or self.size_bytes <= 0:
            return self.size_bytes
        remaining = self.remaining_bytes - self.rate_bps * (now - self.last_s)
        return min(max(self.size_bytes - remaining, 0.0), self.size_bytes)


class Network:
    """All links of a run, routes from the plan, and the fair-share allocator."""

    def __init__(self, env: simpy.Environment, plan: Plan):
        self.env = env
        self.plan = plan
        self.links = [Link(link.index, link.name, link.bandwidth_bps, link.latency_s) for link in plan.links]
        self._by_ends = {frozenset(planned.ends): self.links[planned.index] for planned in plan.links}
        self._paths: dict[tuple[str, str], tuple[Link, ...]] = {}
        self._nodes: dict[tuple[str, str], tuple[str, ...]] = {}
        self._down_appliances: dict[str, simpy.Event] = {}
        """Crashed appliances, each with the event its restart triggers."""
        self._epochs: dict[str, int] = {}
        """Crashes so far per appliance: a message whose end crashed while it travelled is lost."""

    def path(self, src: str, dst: str) -> tuple[Link, ...]:
        """Links along the lowest-latency route from appliance `src` to `dst` (cached)."""
        key = (src, dst)
        links = self._paths.get(key)
        if links is None:
            links = self._paths[key] = tuple(self.links[i] for i in self.plan.route(src, dst))
        return links

    def nodes_on(self, src: str, dst: str) -> tuple[str, ...]:
        """The appliances and routers along the route from `src` to `dst`, both ends included (cached)."""
        key = (src, dst)
        nodes = self._nodes.get(key)
        if nodes is None:
            found = [src]
            for index in self.plan.route(src, dst):
                a, b = self.plan.links[index].ends
                found.append(b if a == found[-1] else a)
            nodes = self._nodes[key] = tuple(found)
        return nodes

    def link_between(self, a: str, b: str) -> Link:
        """The link whose ends are `a` and `b`, in either order."""
        return self._by_ends[frozenset((a, b))]

    # -- bulk transfers -------------------------------------------------------------

    def start_flow(self, src: str, dst: str, size_bytes: float, cap_bps: float | None = None) -> Flow:
        """Start sending `size_bytes` from `src` to `dst`, sharing links fairly and never faster
        than `cap_bps` (None: no cap); `complete` waits for it (a flow of no bytes has nothing
        to wait for)."""
        links = self.path(src, dst)
        flow = Flow(links, size_bytes, self.env.event(), self.env.now, cap_bps)
        if size_bytes > 0:
            alone = True
            for link in links:
                link.flows[flow] = None
                alone = alone and len(link.flows) == 1
            if alone:
                self._time_alone(flow)
            else:
                self._reallocate(links)
        return flow

    def complete(self, flow: Flow) -> Generator[simpy.Event, Any, None]:
        """Process body: wait until the flow's last byte has been sent and has crossed the
        path (one path latency later)."""
        if flow.size_bytes > 0:
            yield flow.done
            return
        latency = _latency(flow.links)
        if latency > 0:
            yield self.env.timeout(latency)

    def transfer(self, src: str, dst: str, size_bytes: float) -> Generator[simpy.Event, Any, None]:
        """Process body: send `size_bytes` from `src` to `dst` and wait until it has arrived."""
        yield from self.complete(self.start_flow(src, dst, size_bytes))

    def cancel_flow(self, flow: Flow) -> None:
        """Stop a running flow where it is (its transfer was aborted); its links' other
        flows share what it leaves."""
        if flow.size_bytes <= 0:
            return  # never on its links: nothing to stop
        now = self.env.now
        flow.remaining_bytes -= flow.rate_bps * (now - flow.last_s)
        flow.last_s = now
        flow.version += 1
        for link in flow.links:
            del link.flows[flow]
            link.bytes_carried += flow.size_bytes - max(flow.remaining_bytes, 0.0)
        self._reallocate(flow.links)
        flow.rate_bps = 0.0

    def _finish(self, flow: Flow, version: int, _event: simpy.Event) -> None:
        """A group's completion timer fired: `flow` has sent its last byte, unless the group
        was re-timed since (`version` no longer matches): then a newer timer stands for it."""
        if version != flow.version or flow.done.triggered:
            return
        flow.remaining_bytes = 0.0
        for link in flow.links:
            del link.flows[flow]
            link.bytes_carried += flow.size_bytes
        _succeed_after(flow.done, _latency(flow.links))
        self._reallocate(flow.links)

    def _set_timer(self, flow: Flow, delay: float) -> None:
        """The completion timer of `flow`'s group: `flow` ends in `delay` unless re-timed first."""
        self.env.timeout(delay).callbacks.append(partial(self._finish, flow, flow.version))

    def _time_alone(self, flow: Flow) -> None:
        """Rate and completion timer of a flow that has every link of its path to itself (a
        private path): what `_reallocate` gives it, without walking or filling."""
        now = self.env.now
        for link in flow.links:
            link.integrate(now)
        flow.remaining_bytes -= flow.rate_bps * (now - flow.last_s)
        flow.last_s = now
        rate = _alone_rate(flow)
        flow.version += 1
        flow.rate_bps = rate
        if rate > 0:
            self._set_timer(flow, max(flow.remaining_bytes, 0.0) / rate)
        for link in flow.links:
            link.rate_bps = rate  # the sum of its flows' rates
            if rate > link.peak_rate_bps:
                link.peak_rate_bps = rate

    def _reallocate(self, changed: Sequence[Link]) -> None:
        """Max-min fair rates, within their caps, for every flow connected to the `changed` links,
        and one completion timer per connected group of them.

        Progressive filling: repeatedly, the link with the smallest fair share (what it has left
        over its flows without a rate yet) fixes that share for its flows, unless a flow without
        a rate has a cap below that share: then that flow gets its cap first (capped flows are
        taken in order of their caps). A flow alone in what is walked gets its rate directly.

        The timer of a group is for its flow that finishes first (of those finishing at the same
        instant, the first to get its rate); see the module docstring for why one suffices."""
        now = self.env.now
        if not any(link.flows for link in changed):  # nothing to share: close their integrals
            for link in changed:
                link.integrate(now)
                link.rate_bps = 0.0
            return
        links: dict[Link, None] = {}
        flows: dict[Flow, None] = {}
        starts: list[int] = []  # where each connected group with flows begins in `flows`
        # Walk the groups one by one (the order of one stack over all of `changed`): a group's
        # flows are contiguous in `flows`.
        for start in reversed(changed):
            if start in links:
                continue
            if start.flows:
                starts.append(len(flows))
            stack = [start]
            while stack:
                link = stack.pop()
                if link in links:
                    continue
                links[link] = None
                for flow in link.flows:
                    if flow not in flows:
                        flows[flow] = None
                        stack.extend(flow.links)
        for link in links:
            link.integrate(now)
        for flow in flows:
            flow.remaining_bytes -= flow.rate_bps * (now - flow.last_s)
            flow.last_s = now
        if len(flows) == 1:
            (flow,) = flows
            rates = {flow: _alone_rate(flow)}
        else:
            rates = _max_min_rates(links, flows)
        for flow, rate in rates.items():
            flow.version += 1
            flow.rate_bps = rate
        if len(starts) == 1:
            first = _first_to_finish(rates.items(), now)
            firsts = [first] if first is not None else []
        else:
            firsts = _first_per_group(rates, list(flows), starts, now)
        for delay, flow in firsts:
            self._set_timer(flow, delay)
        for link in links:
            total = sum(flow.rate_bps for flow in link.flows)
            link.rate_bps = total
            if total > link.peak_rate_bps:
                link.peak_rate_bps = total

    # -- outages and bandwidth changes ------------------------------------------------

    def set_link_down(self, link: Link) -> None:
        """Start an outage on `link` (outages may overlap: each must be ended)."""
        link.down_count += 1
        if link.down_count == 1:
            link.down_since_s = self.env.now
            link.outages += 1
            link._up_event = self.env.event()
            self._reallocate((link,))

    def set_link_up(self, link: Link) -> None:
        """End one outage on `link`; when none remain its flows resume."""
        link.down_count -= 1
        if link.down_count == 0:
            link.down_s += self.env.now - link.down_since_s
            self._reallocate((link,))
            event, link._up_event = link._up_event, None
            if event is not None:
                event.succeed()

    def set_link_bandwidth(self, link: Link, bandwidth_bps: float) -> None:
        """From now on `link` carries `bandwidth_bps` while it is up; its flows' rates follow."""
        if bandwidth_bps == link.capacity_bps:
            return
        link.capacity_bps = bandwidth_bps
        if link.up:
            self._reallocate((link,))

    def follow_bandwidth_schedule(self, link: Link,
                                  changes: Iterable[tuple[float, float]]) -> Generator[simpy.Event, Any, None]:
        """Process: at each (time, bandwidth) of `changes`, in time order, set `link`'s bandwidth."""
        for at_s, bandwidth_bps in changes:
            yield self.env.timeout(at_s - self.env.now)
            self.set_link_bandwidth(link, bandwidth_bps)

    # -- appliances that crash ------------------------------------------------------------

    def appliance_up(self, name: str) -> bool:
        return name not in self._down_appliances

    def epochs(self, a: str, b: str) -> tuple[int, int]:
        """How many times appliances `a` and `b` have crashed so far (a message between them
        was lost if either count moved while it travelled)."""
        epochs = self._epochs
        return epochs.get(a, 0), epochs.get(b, 0)

    def set_appliance_down(self, name: str) -> None:
        """Appliance `name` crashed: nothing reaches it or leaves it until `set_appliance_up`."""
        self._epochs[name] = self._epochs.get(name, 0) + 1
        self._down_appliances[name] = self.env.event()

    def set_appliance_up(self, name: str) -> None:
        """Appliance `name` restarted."""
        self._down_appliances.pop(name).succeed()

    # -- control messages -------------------------------------------------------------

    def wait_for_path(self, src: str, dst: str) -> Generator[simpy.Event, Any, None]:
        """Process body: return once every appliance on the route from `src` to `dst` (both
        ends, and any it passes through) and every link of it is up."""
        links = self.path(src, dst)
        down_appliances = self._down_appliances
        while True:
            restart = next((down_appliances[node] for node in self.nodes_on(src, dst) if node in down_appliances),
                           None) if down_appliances else None
            if restart is not None:
                yield restart
                continue
            down = next((link for link in links if not link.up), None)
            if down is None:
                return
            yield down._up_event

    def path_is_up(self, src: str, dst: str) -> bool:
        """Whether every appliance on the route (both ends, and any it passes through) and
        every link of it is up."""
        down_appliances = self._down_appliances
        if down_appliances and any(node in down_appliances for node in self.nodes_on(src, dst)):
            return False
        for link in self.path(src, dst):  # noqa: SIM110 - a loop, not all(...): no generator per lock set
            if link.down_count:
                return False
        return True

    def message_time(self, src: str, dst: str, size_bytes: float) -> float | None:
        """How long a small control message of `size_bytes` takes from `src` to `dst` over an up
        path, sent now: latency + size / narrowest current capacity (None: the two are one
        appliance, no wire and no wait). Senders wait for the path first (`wait_for_path`)."""
        links = self.path(src, dst)
        if not links:
            return None
        latency_s, narrowest_bps = 0, links[0].capacity_bps  # one pass: this runs for every lock set
        for link in links:
            latency_s += link.latency_s
            if link.capacity_bps < narrowest_bps:
                narrowest_bps = link.capacity_bps
        return latency_s + size_bytes / narrowest_bps


def _latency(links: tuple[Link, ...]) -> float:
    """The one-way latency of a path: the sum of its links' latencies."""
    return sum(link.latency_s for link in links)


def _succeed_after(event: simpy.Event, delay: float) -> None:
    """Trigger `event` now and have it fire `delay` later, as a SimPy `Timeout` does: one
    event in the heap for a flow's last byte being sent and then arriving, instead of the
    event for its sending and a timeout for the latency."""
    event._ok = True
    event._value = None
    event.env.schedule(event, NORMAL, delay)


def _alone_rate(flow: Flow) -> float:
    """The max-min rate of a flow that shares no link: its path's narrowest current capacity
    (zero across a link that is down), or its cap if that is lower (progressive filling of
    one flow, with the same comparisons)."""
    share = max(min(link.capacity_bps if link.up else 0.0 for link in flow.links), 0.0)
    cap = flow.cap_bps
    return cap if cap is not None and cap < share else share


def _first_to_finish(rates: Iterable[tuple[Flow, float]], now: float) -> tuple[float, Flow] | None:
    """(delay, flow) for the flow of the (flow, rate) pairs that finishes first, None if none
    moves. Finish instants are compared as the event heap compares its timeouts (`now + delay`,
    then the order of scheduling): of flows finishing at the same instant, the first listed."""
    first: tuple[float, Flow] | None = None
    first_at = 0.0
    for flow, rate in rates:
        if rate > 0:
            delay = max(flow.remaining_bytes, 0.0) / rate
            at = now + delay
            if first is None or at < first_at:
                first, first_at = (delay, flow), at
    return first


def _first_per_group(rates: dict[Flow, float], walked: list[Flow], starts: list[int],
                     now: float) -> list[tuple[float, Flow]]:
    """`_first_to_finish` of each connected group (the flows `walked[start:next start]`), ordered
    as the flows got their rates, which is how their own timeouts would have been ordered."""
    position = {flow: i for i, flow in enumerate(rates)}
    firsts = []
    for begin, end in zip(starts, starts[1:] + [len(walked)]):
        members = sorted(walked[begin:end], key=position.__getitem__)
        first = _first_to_finish(((flow, rates[flow]) for flow in members), now)
        if first is not None:
            firsts.append(first)
    return sorted(firsts, key=lambda first: position[first[1]])


def _max_min_rates(links: dict[Link, None], flows: dict[Flow, None]) -> dict[Flow, float]:
    """Progressive filling over `links` for `flows` (every flow on those links), in the order
    the flows get their rates."""
    capacity = {link: (link.capacity_bps if link.up else 0.0) for link in links}
    unfrozen = {link: len(link.flows) for link in links}
    capped = sorted((flow.cap_bps, i, flow) for i, flow in enumerate(flows) if flow.cap_bps is not None)
    next_capped = 0
    rates: dict[Flow, float] = {}
    while len(rates) < len(flows):
        share, bottleneck = min(
            (capacity[link] / count, link.index, link) for link, count in unfrozen.items() if count
        )[0::2]
        share = max(share, 0.0)
        while next_capped < len(capped) and capped[next_capped][2] in rates:
            next_capped += 1
        if next_capped < len(capped) and capped[next_capped][0] < share:
            cap, _, flow = capped[next_capped]
            _fix_rate(flow, cap, rates, capacity, unfrozen)
            continue
        for flow in bottleneck.flows:
            if flow not in rates:
                _fix_rate(flow, share, rates, capacity, unfrozen)
    return rates


def _fix_rate(flow: Flow, rate: float, rates: dict[Flow, float], capacity: dict[Link, float],
              unfrozen: dict[Link, int]) -> None:
    """Progressive filling: give `flow` its final `rate`, taken from what each of its links has left."""
    rates[flow] = rate
    for link in flow.links:
        capacity[link] -= rate
        unfrozen[link] -= 1


def bandwidth_changes(entries: Iterable[tuple[Iterable[float], float]]) -> list[tuple[float, float]]:
    """A link's bandwidth schedule as (time, bandwidth) changes in time order, from each entry's
    firing times and bandwidth; of entries that fire at the same instant, the later one wins."""
    at: dict[float, float] = {}
    for firings, bandwidth_bps in entries:
        for t in firings:
            at[t] = bandwidth_bps
    return sorted(at.items())

"""The `locks` command's text: every volume's PCPIs at a moment, with who locks each and why,
like a storage system's snapshot list with owners. It reads a model stopped at that moment, or
the models of a scenario's independent cascades (`sim.engine.cascade_runs`), whose PCPIs it
numbers as the merged tables do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sim.present.formatting import format_bytes, format_seconds
from sim.results.tables import merged_id

if TYPE_CHECKING:
    from sim.engine.model import Model
    from sim.engine.storage import Appliance


def snapshot_listing(models: Sequence[Model], at_s: float) -> str:
    """Every volume's PCPIs at `at_s` (each model run up to then), appliance by appliance in name
    order, oldest first, with their locks, and the space protocol locks and holds hold on each volume."""
    first = models[0]
    lines = [f"t = {format_seconds(at_s)} ({first.clock.stamp(at_s)} UTC), protocol {first.strategy.name}"]
    blocks = []
    for index, model in enumerate(models):
        model.lock_space.flush(model.env.now)
        blocks += [(appliance.name, _appliance_lines(model, appliance, index, len(models)))
                   for appliance in model.appliances.values()]
    for _name, block in sorted(blocks, key=lambda named: named[0]):
        lines += block
    return "\n".join(lines)


def _appliance_lines(model: Model, appliance: Appliance, index: int, count: int) -> list[str]:
    """The lines of one appliance's volumes; PCPI ids as numbered for cascade `index` of `count`."""
    lines = []
    for volume in appliance.volumes:
        lock_bytes, hold_bytes = model.lock_space.held_bytes(volume)
        held = f", by holds {format_bytes(hold_bytes)}" if hold_bytes else ""
        lines.append(f"{volume.name}  ({len(volume.pcpis)} PCPIs, snapshot space "
                     f"{format_bytes(volume.snapshot_space_bytes)}, held by locks {format_bytes(lock_bytes)}{held})")
        for pcpi in volume.pcpis.values():
            owners = []
            for kind, holder, lock in model.locks.owners(volume, pcpi.id):
                if lock is None:
                    owners.append(f"{kind}: base of {holder}")
                else:
                    owners.append(f"{lock.type}: {lock.string} (for {lock.locking_dataset}, via {holder}, "
                                  f"{lock.hops} hop{'s' if lock.hops != 1 else ''})")
            pcpi_id = merged_id(pcpi.id, index, count)
            lines.append(f"  #{pcpi_id:<6} {pcpi.name:<40} {format_bytes(pcpi.changed_bytes):>10}  "
                         f"{'; '.join(owners) or '-'}")
    return lines

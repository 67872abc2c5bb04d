"""The `locks` command's text: every volume's PCPIs at a moment, with who locks each and why,
like a storage system's snapshot list with owners. It reads a model stopped at that moment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.present.formatting import format_bytes, format_seconds

if TYPE_CHECKING:
    from sim.engine.model import Model


def snapshot_listing(model: Model, at_s: float) -> str:
    """Every volume's PCPIs at `at_s` (the model run up to then), oldest first, with their
    locks, and the space protocol locks and holds hold on each volume."""
    lines = [f"t = {format_seconds(at_s)} ({model.clock.stamp(at_s)} UTC), protocol {model.strategy.name}"]
    model.lock_space.flush(model.env.now)
    for appliance in model.appliances.values():
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
                lines.append(f"  #{pcpi.id:<6} {pcpi.name:<40} {format_bytes(pcpi.changed_bytes):>10}  "
                             f"{'; '.join(owners) or '-'}")
    return "\n".join(lines)

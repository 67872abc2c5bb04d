"""Faults of control messages (lock sets): lost, late, duplicated and held back.

Each message's fate is drawn on its own, when it is sent, from its sender's stream
(`messages:<sending appliance>`: what one appliance sends does not move what another's draws,
so a scenario's independent cascades draw the same run by run or merged):
lost with probability `loss`; otherwise it arrives once, or twice with probability
`duplicate`. Each arriving copy is late by its own extra delay (from the `delay` family of
the given mean, when one is given), and every copy of a message is held back by
`reorder_delay` with probability `reorder`, so that messages sent after it can overtake it.

Every message draws the same numbers whatever its fate (three uniforms, then two extra delays
when a `delay` is given), so runs that differ only in a probability see the same draws for
the same message: a message lost at `loss: 0.3` is lost at `loss: 0.6` too. A run without
message faults has no `MessageFaults` and draws nothing.
"""

from __future__ import annotations

import numpy as np

from sim.engine.durations import repair_time
from sim.engine.randomness import RandomStreams
from sim.scenario.schema import MessageFaultSpec

STREAM = "messages"
"""The prefix of the random streams message faults draw from, one per sending appliance."""


class MessageFaults:
    """The fate of each control message: which copies arrive, and how late."""

    __slots__ = ("spec", "_streams", "_rngs")

    def __init__(self, spec: MessageFaultSpec, streams: RandomStreams):
        self.spec = spec
        self._streams = streams
        self._rngs: dict[str, np.random.Generator] = {}

    def copies(self, sender: str) -> tuple[float, ...]:
        """The extra delays, in seconds, of the copies that arrive of one message `sender` (an
        appliance) sends: none when it is lost, one, or two when it is duplicated."""
        spec = self.spec
        rng = self._rngs.get(sender)
        if rng is None:
            rng = self._rngs[sender] = self._streams.stream(f"{STREAM}:{sender}")
        lost_u, duplicate_u, reorder_u = rng.random(3)
        delay = spec.delay
        extra_s = ((repair_time(rng, delay.mean, delay), repair_time(rng, delay.mean, delay))
                   if delay is not None else (0.0, 0.0))
        if lost_u < spec.loss:
            return ()
        held_back_s = spec.reorder_delay if reorder_u < spec.reorder else 0.0
        count = 2 if duplicate_u < spec.duplicate else 1
        return tuple(held_back_s + extra for extra in extra_s[:count])


def message_faults(spec: MessageFaultSpec | None, streams: RandomStreams) -> MessageFaults | None:
    """The run's message faults, each sender drawing from its own stream; None without a spec."""
    return MessageFaults(spec, streams) if spec is not None else None

"""Random streams: one per component, derived from the scenario's seed and the component's name."""

from __future__ import annotations

import hashlib

import numpy as np


class RandomStreams:
    """`stream(scope)` is the RNG of the component named `scope`, independent of all others.

    The spawn key is the four 32-bit words of a 128-bit BLAKE2b digest of the name: two names
    share a stream only if their digests collide (a CRC32 key made names such as
    `A:/vol/uejgtcuo` and `A:/vol/iiwucoup` draw identical numbers), and adding a component
    leaves every other stream unchanged.
    """

    __slots__ = ("seed",)

    def __init__(self, seed: int):
        self.seed = seed

    def stream(self, scope: str) -> np.random.Generator:
        digest = hashlib.blake2b(scope.encode("utf-8"), digest_size=16).digest()
        key = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

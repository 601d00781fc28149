"""Pairs for contrastive training: the same object in two different seen architectures.

Every epoch shuffles the training objects (seeded by ``seed`` and the epoch, so an epoch's
batches never depend on what ran before: resuming is exact) and gives the k-th object the
pairing ``k mod 3`` (plus a per-epoch offset): every batch of P pairs then holds the three
pairings (mlp-triplane, mlp-hash, triplane-hash) equally, up to one. A last batch shorter than P
is dropped (the encoder standardises per architecture within a batch, which needs a few graphs
of each); the shuffle gives those objects their turn in other epochs. Under DDP, rank r of W
takes batches ``r, r+W, ...`` of an epoch cut to a multiple of W (equal step counts).
"""

from __future__ import annotations

from itertools import combinations

import torch

from wsrl.errors import WsrlError

Pair = tuple[str, str, str]  # (object id, architecture a, architecture b)


class PairSampler:
    def __init__(self, ids: list[str], archs: list[str], pairs_per_batch: int, seed: int = 0) -> None:
        if len(archs) < 2:
            raise WsrlError(f"pairs need at least two architectures, got {archs}")
        self.ids, self.pairings = list(ids), list(combinations(archs, 2))
        self.pairs_per_batch, self.seed = pairs_per_batch, seed

    def batches(self, epoch: int, rank: int = 0, world: int = 1) -> list[list[Pair]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.ids), generator=gen).tolist()
        offset = int(torch.randint(len(self.pairings), (1,), generator=gen))
        pairs = [(self.ids[i], *self.pairings[(k + offset) % len(self.pairings)]) for k, i in enumerate(order)]
        p = self.pairs_per_batch
        batches = [pairs[s : s + p] for s in range(0, len(pairs) - p + 1, p)]
        usable = len(batches) // world * world
        if usable == 0:
            raise WsrlError(f"{len(self.ids)} objects make {len(batches)} batches, fewer than {world} ranks")
        return batches[rank:usable:world]

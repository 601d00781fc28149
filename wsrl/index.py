"""Embedding stores: one vector per NeRF with its object id, class, architecture and split.

Saved as a weights-only torch file ``{"format": "wsrl.embeddings", "embeddings": [N, D],
"object_id": [...], "label": [...], "arch": [...], "split": [...], "source": ...}``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.atomic import save_torch
from wsrl.dataset import ZooGraphs
from wsrl.encoder import GMNEncoder, embed_graphs
from wsrl.statistics import standardize_statistics, weight_statistics

FORMAT = "wsrl.embeddings"


@dataclass
class EmbeddingStore:
    embeddings: Tensor
    object_id: list[str]
    label: list[int]
    arch: list[str]
    split: list[str]
    meta: dict = field(default_factory=dict)

    def select(self, arch: str | None = None, split: str | None = None) -> EmbeddingStore:
        keep = [
            i
            for i in range(len(self.object_id))
            if (arch is None or self.arch[i] == arch) and (split is None or self.split[i] == split)
        ]
        return EmbeddingStore(
            self.embeddings[keep],
            [self.object_id[i] for i in keep],
            [self.label[i] for i in keep],
            [self.arch[i] for i in keep],
            [self.split[i] for i in keep],
            self.meta,
        )

    @property
    def archs(self) -> list[str]:
        return list(dict.fromkeys(self.arch))

    def save(self, path: str | os.PathLike) -> None:
        payload = {
            "format": FORMAT,
            "version": 1,
            "embeddings": self.embeddings.contiguous(),
            "object_id": self.object_id,
        }
        payload.update({"label": self.label, "arch": self.arch, "split": self.split, "meta": self.meta})
        save_torch(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike) -> EmbeddingStore:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path}: not a wsrl embedding store (expected format={FORMAT!r})")
        keys = ("embeddings", "object_id", "label", "arch", "split")
        return cls(*(payload[k] for k in keys), payload.get("meta", {}))


def zoo_store(data: ZooGraphs, features: Callable[[list[Data]], Tensor], meta: dict | None = None) -> EmbeddingStore:
    """``features`` of every NeRF of every architecture of ``data`` (all splits), as a store; ``features``
    gets one architecture's graphs at a time (a population: embeddings are standardised per architecture)."""
    rows = [(arch, o) for arch in data.archs for o in data.objects]
    z = torch.cat([features([data.graph(arch, o["id"]) for o in data.objects]) for arch in data.archs])
    return EmbeddingStore(
        z,
        [o["id"] for _, o in rows],
        [o["label"] for _, o in rows],
        [arch for arch, _ in rows],
        [o["split"] for _, o in rows],
        dict(meta or {}),
    )


def embed_zoo(encoder: GMNEncoder, data: ZooGraphs, meta: dict | None = None) -> EmbeddingStore:
    """Encoder embeddings of every NeRF of ``data``."""
    encoder.eval()
    return zoo_store(data, lambda graphs: embed_graphs(encoder, graphs), meta)


def weight_statistics_zoo(data: ZooGraphs, meta: dict | None = None) -> EmbeddingStore:
    """The weight-statistics baseline of every NeRF of ``data``, standardised per architecture."""

    def features(graphs: list[Data]) -> Tensor:
        return standardize_statistics(torch.stack([weight_statistics(g) for g in graphs]))

    return zoo_store(data, features, meta)

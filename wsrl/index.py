"""Embedding stores: one vector per NeRF with its object id, class, architecture and split.

Saved as a weights-only torch file ``{"format": "wsrl.embeddings", "embeddings": [N, D],
"object_id": [...], "label": [...], "arch": [...], "split": [...], "source": ...}``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import Tensor

from wsrl.atomic import save_torch
from wsrl.dataset import ZooGraphs
from wsrl.encoder import GMNEncoder, embed_graphs

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


def embed_zoo(encoder: GMNEncoder, data: ZooGraphs, meta: dict | None = None) -> EmbeddingStore:
    """Embeddings of every NeRF of every architecture of ``data`` (all splits)."""
    rows = [(arch, o) for arch in data.archs for o in data.objects]
    z = embed_graphs(encoder.eval(), [data.graph(arch, o["id"]) for arch, o in rows])
    return EmbeddingStore(
        z,
        [o["id"] for _, o in rows],
        [o["label"] for _, o in rows],
        [arch for arch, _ in rows],
        [o["split"] for _, o in rows],
        dict(meta or {}),
    )

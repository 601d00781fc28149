"""Embedding stores: one vector per NeRF with its object id, class, architecture, split and source.

Saved as a weights-only torch file ``{"format": "wsrl.embeddings", "version": 1, "embeddings": [N, D],
"object_id", "label", "arch", "split", "source": [N], "meta": {...}, "norms": {arch: [6 tensors]}}``.

Embeddings are standardised per architecture over a population (:mod:`wsrl.encoder.standardize`). A store
made by an encoder keeps, per architecture, the moments it used (``norms``), so NeRFs embedded later (an
index's new entries, a search query) are standardised exactly as the population they join.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.encoder.gmn import GMNEncoder, ReadoutNorms, pool_graphs
from wsrl.encoder.standardize import per_domain_standardize, standardize_statistics
from wsrl.errors import WsrlError
from wsrl.files import envelope, load_envelope, save_torch
from wsrl.graph.collection import GraphCollection
from wsrl.graph.probe import probe_features
from wsrl.graph.statistics import weight_statistics

FORMAT, VERSION = "wsrl.embeddings", 1
# the fewest NeRFs of one architecture whose moments may standardise it: with 1 row every embedding is 0, with
# 2 the two are exact opposites; 8 is a choice (a reference population should be far larger)
MIN_POPULATION = 8


@dataclass(frozen=True)
class Hit:
    """One search result."""

    row: int
    id: str
    arch: str
    score: float  # cosine similarity
    label: int
    source: str


@dataclass
class EmbeddingStore:
    embeddings: Tensor
    object_id: list[str]
    label: list[int]
    arch: list[str]
    split: list[str]
    meta: dict = field(default_factory=dict)  # encoder, data, seen_archs (the encoder's training architectures)
    source: list[str] = field(default_factory=list)  # the checkpoint of each row ("" when unknown)
    norms: dict[str, list[Tensor]] = field(default_factory=dict)  # per architecture, the readout's moments

    def __post_init__(self) -> None:
        if not self.source:
            self.source = [""] * len(self.object_id)
        self.validate("embedding store")

    def validate(self, where: str) -> None:
        """One-line errors for rows of unequal lengths or non-finite embeddings."""
        n = self.embeddings.shape[0] if self.embeddings.dim() == 2 else -1
        lengths = {k: len(getattr(self, k)) for k in ("object_id", "label", "arch", "split", "source")}
        if n < 0 or any(v != n for v in lengths.values()):
            raise WsrlError(f"{where}: embeddings {tuple(self.embeddings.shape)} do not match its rows {lengths}")
        if not torch.isfinite(self.embeddings).all():
            raise WsrlError(f"{where}: embeddings contain NaN or Inf")

    def select(self, arch: str | None = None, split: str | None = None) -> EmbeddingStore:
        keep = [
            i
            for i in range(len(self.object_id))
            if (arch is None or self.arch[i] == arch) and (split is None or self.split[i] == split)
        ]
        return self.rows(keep)

    def rows(self, keep: Sequence[int]) -> EmbeddingStore:
        keep = list(keep)
        return EmbeddingStore(
            self.embeddings[keep],
            [self.object_id[i] for i in keep],
            [self.label[i] for i in keep],
            [self.arch[i] for i in keep],
            [self.split[i] for i in keep],
            self.meta,
            [self.source[i] for i in keep],
            self.norms,
        )

    def __len__(self) -> int:
        return len(self.object_id)

    @property
    def archs(self) -> list[str]:
        return list(dict.fromkeys(self.arch))

    @property
    def seen_archs(self) -> list[str]:
        """The architectures the embedding encoder trained on (empty when unknown)."""
        return list(self.meta.get("seen_archs", []))

    def search(self, queries: Tensor | Sequence[int], k: int = 10) -> list[list[Hit]]:
        """The ``k`` nearest rows (cosine) of each query: embedding vectors ``[Q, D]``, or row indices of
        this store (then the row itself is left out)."""
        from wsrl.search.metrics import search

        if k < 1:
            raise WsrlError(f"search: k must be >= 1, got {k}")
        own = None if isinstance(queries, Tensor) else list(queries)
        vectors = queries if own is None else self.embeddings[own]
        top_k = min(k + (own is not None), len(self))
        scores, top = search(self.embeddings, vectors, top_k, with_scores=True)
        out = []
        for q, (row_scores, row_top) in enumerate(zip(scores, top, strict=True)):
            hits = [
                self.hit(int(j), float(s))
                for s, j in zip(row_scores, row_top, strict=True)
                if j >= 0 and (own is None or j != own[q])
            ]
            out.append(hits[:k])
        return out

    def hit(self, row: int, score: float) -> Hit:
        return Hit(row, self.object_id[row], self.arch[row], score, self.label[row], self.source[row])

    def save(self, path: str | os.PathLike) -> None:
        self.validate(str(path))
        body = {
            "embeddings": self.embeddings.contiguous(),
            "object_id": self.object_id,
            "label": self.label,
            "arch": self.arch,
            "split": self.split,
            "source": self.source,
            "meta": self.meta,
            "norms": self.norms,
        }
        save_torch(path, envelope(FORMAT, VERSION, body))

    @classmethod
    def load(cls, path: str | os.PathLike) -> EmbeddingStore:
        payload = load_envelope(path, FORMAT, VERSION, "wsrl embedding store")
        try:
            columns = [payload[k] for k in ("embeddings", "object_id", "label", "arch", "split")]
        except KeyError as exc:
            raise WsrlError(f"{path}: embedding store without {exc.args[0]!r}") from None
        meta, source, norms = payload.get("meta") or {}, payload.get("source") or [], payload.get("norms") or {}
        if not isinstance(meta, dict) or not isinstance(norms, dict) or not isinstance(columns[0], Tensor):
            raise WsrlError(f"{path}: embedding store with malformed embeddings, meta or norms")
        try:
            return cls(*columns, meta, list(source), norms)
        except WsrlError as exc:
            raise WsrlError(f"{path}: {exc}") from None


def _flat(norms: ReadoutNorms) -> list[Tensor]:
    return [t for pair in norms for t in pair]


def _pairs(flat: list[Tensor]) -> ReadoutNorms:
    return (flat[0], flat[1]), (flat[2], flat[3]), (flat[4], flat[5])


def graph_rows(graphs: Sequence[Data]) -> dict[str, list]:
    """The store columns of ``graphs`` taken from the graphs themselves."""
    return {
        "object_id": [str(g.object_id) for g in graphs],
        "label": [int(g.class_label) for g in graphs],
        "arch": [str(g.arch) for g in graphs],
        "split": [str(g.split) for g in graphs],
        "source": [str(getattr(g, "source", "")) for g in graphs],
    }


def _populations(archs: Sequence[str]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for i, arch in enumerate(archs):
        rows.setdefault(arch, []).append(i)
    return rows


@torch.no_grad()
def embed_population(encoder: GMNEncoder, graphs: Sequence[Data]) -> tuple[Tensor, list[Tensor]]:
    """Embeddings of one architecture's population and the moments that standardised them."""
    z, norms = encoder.readout(pool_graphs(encoder, list(graphs)))
    return z, _flat(norms)


@torch.no_grad()
def embed_with_norms(encoder: GMNEncoder, graphs: Sequence[Data], norms: dict[str, list[Tensor]]) -> Tensor:
    """Embeddings of ``graphs`` standardised with stored per-architecture moments (one NeRF alone is fine)."""
    archs = [str(g.arch) for g in graphs]
    missing = sorted(set(archs) - set(norms))
    if missing:
        raise WsrlError(
            f"no reference population of architecture(s) {missing} to standardise against (have {sorted(norms)}); "
            f"embed or index at least {MIN_POPULATION} NeRFs of each architecture together first"
        )
    z = torch.zeros(len(graphs), encoder.config.embedding)
    for arch, rows in _populations(archs).items():
        pooled = pool_graphs(encoder, [graphs[i] for i in rows])
        domain = torch.zeros(len(rows), dtype=torch.long)
        z[rows] = encoder.readout(pooled, domain, _pairs(norms[arch]))[0]
    return z


def check_population(arch: str, n: int) -> None:
    if n < MIN_POPULATION:
        raise WsrlError(
            f"architecture {arch!r}: {n} NeRF(s) cannot be standardised as a population (embeddings are defined "
            f"relative to their architecture's population); embed at least {MIN_POPULATION} together"
        )


def embed(encoder: GMNEncoder, graphs: Sequence[Data], meta: dict | None = None) -> EmbeddingStore:
    """A store of ``graphs`` of any architectures: each graph's architecture is taken from the graph, and each
    architecture is standardised over its own NeRFs here (at least :data:`MIN_POPULATION` of each)."""
    graphs = list(graphs)
    cols = graph_rows(graphs)
    z = torch.zeros(len(graphs), encoder.config.embedding)
    norms = {}
    for arch, rows in _populations(cols["arch"]).items():
        check_population(arch, len(rows))
        z[rows], norms[arch] = embed_population(encoder, [graphs[i] for i in rows])
    info = {"seen_archs": list(encoder.trained_archs), **(meta or {})}
    return EmbeddingStore(z, cols["object_id"], cols["label"], cols["arch"], cols["split"], info, cols["source"], norms)


def collection_store(
    data: GraphCollection, features: Callable[[str, list[Data]], tuple[Tensor, list[Tensor] | None]], meta: dict
) -> EmbeddingStore:
    """``features`` of every NeRF of ``data`` as a store; ``features`` gets one architecture's graphs at a time
    (a population: embeddings are standardised per architecture) and returns them with their moments."""
    parts, norms = [], {}
    for arch in data.archs:
        z, moments = features(arch, data.graphs(arch))
        parts.append(z)
        if moments is not None:
            norms[arch] = moments
    e = data.entries
    return EmbeddingStore(
        torch.cat(parts), [x.id for x in e], [x.label for x in e], [x.arch for x in e], [x.split for x in e],
        dict(meta), [x.source for x in e], norms,
    )  # fmt: skip


def embed_collection(encoder: GMNEncoder, data: GraphCollection, meta: dict | None = None) -> EmbeddingStore:
    """Encoder embeddings of every NeRF of ``data``, each architecture standardised over its NeRFs."""
    encoder.eval()
    info = {"data": str(data.root), "seen_archs": list(encoder.trained_archs), **(meta or {})}
    return collection_store(data, lambda arch, graphs: embed_population(encoder, graphs), info)


def weight_statistics_collection(data: GraphCollection, meta: dict | None = None) -> EmbeddingStore:
    """The weight-statistics baseline of every NeRF of ``data``, standardised per architecture."""

    def features(arch: str, graphs: list[Data]) -> tuple[Tensor, None]:
        return standardize_statistics(torch.stack([weight_statistics(g) for g in graphs])), None

    return collection_store(data, features, {"data": str(data.root), "encoder": "weight_statistics", **(meta or {})})


def probe_collection(data: GraphCollection, meta: dict | None = None) -> EmbeddingStore:
    """The probe baseline (:mod:`wsrl.graph.probe`) of every NeRF of ``data``, standardised per architecture."""

    def features(arch: str, graphs: list[Data]) -> tuple[Tensor, None]:
        return per_domain_standardize(torch.stack([probe_features(g) for g in graphs])), None

    return collection_store(data, features, {"data": str(data.root), "encoder": "probe", **(meta or {})})

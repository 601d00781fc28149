"""Embedding stores: one vector per NeRF with its object id, class, architecture, split and source.

Saved as a weights-only torch file ``{"format": "wsrl.embeddings", "version": 1, "embeddings": [N, D],
"object_id", "label", "arch", "split", "source": [N], "meta": {...}, "norms": {arch: [6 tensors]}}``.

Embeddings are standardised per architecture with the moments of a reference population
(:mod:`wsrl.encoder.population`), so every NeRF embeds alone, as it would inside any collection. A store made
by an encoder keeps, per architecture, the moments it used (``norms``), so NeRFs embedded later (an index's new
entries, a search query) are standardised exactly as the rows they join. The baselines (weight statistics,
probe) are standardised the same way, against the train split of a reference collection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.encoder.gmn import GMNEncoder, pool_graphs
from wsrl.encoder.population import (
    Norms,
    check_population,
    embed_with_norms,
    population_norms,
    readout_with_norms,
    reference_norms,
    require_norms,
    rows_by_arch,
)
from wsrl.encoder.standardize import FEATURE_EPS, apply_moments, standardize_moments
from wsrl.errors import WsrlError
from wsrl.files import envelope, load_envelope, save_torch
from wsrl.graph.collection import GraphCollection
from wsrl.graph.probe import probe_features
from wsrl.graph.statistics import STATS_EPS, STATS_REL_EPS, weight_statistics

FORMAT, VERSION = "wsrl.embeddings", 1


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


def graph_rows(graphs: Sequence[Data]) -> dict[str, list]:
    """The store columns of ``graphs`` taken from the graphs themselves."""
    return {
        "object_id": [str(g.object_id) for g in graphs],
        "label": [int(g.class_label) for g in graphs],
        "arch": [str(g.arch) for g in graphs],
        "split": [str(g.split) for g in graphs],
        "source": [str(getattr(g, "source", "")) for g in graphs],
    }


def encoder_norms(
    encoder: GMNEncoder, archs: Sequence[str], reference: GraphCollection | Sequence[Data] | None
) -> Norms:  # fmt: skip
    """The moments that standardise each of ``archs``: the encoder's stored ones, else those of that
    architecture's reference population in ``reference`` (a collection: its train split; graphs: all of them).
    Architectures with neither stay missing (:func:`embed_with_norms` then names them)."""
    norms = {a: encoder.norms[a] for a in archs if a in encoder.norms}
    need = [a for a in dict.fromkeys(archs) if a not in norms]
    if need and reference is not None:
        if isinstance(reference, GraphCollection):
            populations = {a: reference.population(a) for a in need if a in reference.archs}
        else:
            groups = rows_by_arch([str(g.arch) for g in reference]).items()
            populations = {a: [reference[i] for i in idx] for a, idx in groups if a in need}
        norms.update(reference_norms(encoder, populations))
    return norms


def embed(
    encoder: GMNEncoder, graphs: Sequence[Data], reference: Sequence[Data] | None = None, meta: dict | None = None
) -> EmbeddingStore:  # fmt: skip
    """A store of ``graphs`` of any architectures (read from the graphs). Each NeRF is embedded alone: with the
    encoder's stored moments for the architectures it trained on, and for any other architecture with those of
    its NeRFs in ``reference`` (at least :data:`~wsrl.encoder.population.MIN_POPULATION`; ``graphs`` themselves
    may be the reference)."""
    graphs = list(graphs)
    cols = graph_rows(graphs)
    norms = encoder_norms(encoder, cols["arch"], reference)
    z = embed_with_norms(encoder, graphs, norms)
    info = {"seen_archs": list(encoder.trained_archs), **(meta or {})}
    return EmbeddingStore(z, cols["object_id"], cols["label"], cols["arch"], cols["split"], info, cols["source"], norms)


def collection_store(
    data: GraphCollection, features: Callable[[str, list[Data]], Tensor], meta: dict, norms: Norms | None = None
) -> EmbeddingStore:  # fmt: skip
    """``features`` of every NeRF of ``data`` as a store; ``features`` gets one architecture's graphs at a time."""
    parts = [features(arch, data.graphs(arch)) for arch in data.archs]
    e = data.entries
    return EmbeddingStore(
        torch.cat(parts), [x.id for x in e], [x.label for x in e], [x.arch for x in e], [x.split for x in e],
        dict(meta), [x.source for x in e], dict(norms or {}),
    )  # fmt: skip


def pool_collection(encoder: GMNEncoder, data: GraphCollection) -> dict[str, Tensor]:
    """The per-graph part of the encoder (:func:`~wsrl.encoder.gmn.pool_graphs`) on every NeRF of ``data``, per
    architecture, in :meth:`GraphCollection.graphs` order: computed once, read by :func:`embed_collection`
    and :func:`pooled_collection`."""
    encoder.eval()
    return {arch: pool_graphs(encoder, data.graphs(arch)) for arch in data.archs}


def embed_collection(
    encoder: GMNEncoder, data: GraphCollection, reference: GraphCollection | None = None, meta: dict | None = None,
    pooled: dict[str, Tensor] | None = None,
) -> EmbeddingStore:  # fmt: skip
    """Encoder embeddings of every NeRF of ``data``, each alone (:func:`embed`); architectures the encoder did
    not train on are standardised against their train split in ``reference`` (may be ``data`` itself, whose
    pooled rows are then reused). ``pooled``: :func:`pool_collection` of ``data``, when already computed."""
    if reference is data:  # the populations' rows are pooled with the rest, once
        populations = {a: data.population(a) for a in data.archs if a not in encoder.norms}
        for arch, graphs in populations.items():
            check_population(arch, len(graphs))  # before any pooling
    else:
        norms = encoder_norms(encoder, data.archs, reference)
        require_norms(encoder, data.archs, norms)
    pooled = pool_collection(encoder, data) if pooled is None else pooled
    if reference is data:
        norms = {a: encoder.norms[a] for a in data.archs if a in encoder.norms}
        for arch, graphs in populations.items():
            row = {id(g): i for i, g in enumerate(data.graphs(arch))}
            norms[arch] = population_norms(encoder, arch, graphs, pooled[arch][[row[id(g)] for g in graphs]])
    info = {"data": str(data.root), "seen_archs": list(encoder.trained_archs), **(meta or {})}
    return collection_store(data, lambda arch, _: readout_with_norms(encoder, pooled[arch], norms[arch]), info, norms)


def pooled_collection(
    encoder: GMNEncoder, data: GraphCollection, meta: dict | None = None, pooled: dict[str, Tensor] | None = None
) -> EmbeddingStore:  # fmt: skip
    """The encoder's pooled features of every NeRF of ``data``, before any per-architecture standardisation:
    what shows whether it separates architectures by itself (standardisation removes that by construction)."""
    pooled = pool_collection(encoder, data) if pooled is None else pooled
    info = {"data": str(data.root), "seen_archs": list(encoder.trained_archs), **(meta or {})}
    return collection_store(data, lambda arch, _: pooled[arch], info)


def baseline_collection(
    data: GraphCollection, reference: GraphCollection, features: Callable[[Data], Tensor], meta: dict,
    eps: float = FEATURE_EPS, rel_eps: float = 0.0,
) -> EmbeddingStore:  # fmt: skip
    """Per-NeRF ``features`` of every NeRF of ``data``, standardised per architecture with the moments of its
    train split in ``reference`` (may be ``data`` itself: features are computed once per graph)."""
    cache: dict[int, Tensor] = {}

    def feature(g: Data) -> Tensor:
        if id(g) not in cache:
            cache[id(g)] = features(g)
        return cache[id(g)]

    def standardized(arch: str, graphs: list[Data]) -> Tensor:
        population = reference.population(arch) if arch in reference.archs else []
        check_population(arch, len(population))
        reference_rows = torch.stack([feature(g) for g in population])
        moments = standardize_moments(reference_rows, _one(len(population)), eps, rel_eps)[1]
        return apply_moments(torch.stack([feature(g) for g in graphs]), moments, _one(len(graphs)))

    return collection_store(data, standardized, {"data": str(data.root), **meta})


def _one(n: int) -> Tensor:
    return torch.zeros(n, dtype=torch.long)


def weight_statistics_collection(
    data: GraphCollection, reference: GraphCollection, meta: dict | None = None
) -> EmbeddingStore:  # fmt: skip
    """The weight-statistics baseline of every NeRF of ``data`` (:func:`baseline_collection`)."""
    info = {"encoder": "weight_statistics", **(meta or {})}
    return baseline_collection(data, reference, weight_statistics, info, STATS_EPS, STATS_REL_EPS)


def probe_collection(data: GraphCollection, reference: GraphCollection, meta: dict | None = None) -> EmbeddingStore:
    """The probe baseline (:mod:`wsrl.graph.probe`) of every NeRF of ``data`` (:func:`baseline_collection`)."""
    return baseline_collection(data, reference, probe_features, {"encoder": "probe", **(meta or {})})

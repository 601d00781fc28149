"""A persistent NeRF index: embeddings on disk with their metadata, a FAISS index over them, and new
checkpoints appended without rebuilding.

Folder layout::

    INDEX/index.json    format, version, encoder (the run that embeds queries and new entries), kind, count
    INDEX/store.pt      the embedding store: vectors, id, architecture, source path, label, per-architecture
                        standardisation moments (the source of truth)
    INDEX/faiss.index   FAISS index over the unit vectors (derived from the store; rebuilt when it lags)
    INDEX/graphs/       ``wsrl convert`` output of checkpoints added later (resumable)

The store is written first, atomically, then the FAISS file, then ``index.json``: an interrupted build or add
leaves the previous index or a store ahead of its FAISS file, which the next open rebuilds. Rerunning an add
converts and embeds only what is missing.

Search is cosine: exact (``IndexFlatIP``) by default; ``approximate=True`` builds an HNSW graph (32 links),
the choice for 10^6 NeRFs and more, and :func:`approximate_recall` measures what it loses. The FAISS file can
store each vector as float16 or 8-bit scalar-quantised codes (``codes``: 2 or 1 byte per dimension instead of 4;
what an index of millions costs in memory), measured the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.encoder.gmn import GMNEncoder
from wsrl.encoder.population import embed_with_norms
from wsrl.errors import WsrlError
from wsrl.files import atomic_write, envelope, load_json, open_envelope, save_json
from wsrl.graph.collection import GraphCollection
from wsrl.search.codes import CODES
from wsrl.search.metrics import unit_vectors
from wsrl.search.store import EmbeddingStore, Hit, encoder_norms, graph_rows

META_FILE, STORE_FILE, FAISS_FILE, GRAPHS_DIR = "index.json", "store.pt", "faiss.index", "graphs"
FORMAT, VERSION = "wsrl.index", 1
KINDS = ("exact", "hnsw")
HNSW_LINKS = 32


def _faiss_index(vectors: np.ndarray, kind: str, codes: str = CODES[0]):
    """A FAISS index over unit ``vectors``: exact or HNSW, each vector stored as ``codes`` (float32, or FAISS's
    float16 / 8-bit scalar quantiser, whose per-dimension ranges it learns from ``vectors``)."""
    import faiss

    dim, inner = vectors.shape[1], faiss.METRIC_INNER_PRODUCT
    quantizer = {"float16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}.get(codes)
    if kind == "exact":
        index = faiss.IndexFlatIP(dim) if quantizer is None else faiss.IndexScalarQuantizer(dim, quantizer, inner)
    elif quantizer is None:
        index = faiss.IndexHNSWFlat(dim, HNSW_LINKS, inner)
    else:
        index = faiss.IndexHNSWSQ(dim, quantizer, HNSW_LINKS, inner)
    index.train(vectors)  # a no-op for float32 codes
    index.add(vectors)
    return index


def approximate_recall(vectors: np.ndarray, index, k: int = 10, n_queries: int = 1000, seed: int = 0) -> float:
    """Recall@k of ``index`` against exact search, for up to ``n_queries`` of its own vectors as queries."""
    rng = np.random.default_rng(seed)
    queries = vectors[rng.choice(len(vectors), min(n_queries, len(vectors)), replace=False)]
    k = min(k, len(vectors))
    exact = _faiss_index(vectors, "exact").search(queries, k)[1]
    found = index.search(queries, k)[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, found, strict=True)]))


@dataclass
class NeRFIndex:
    """An index folder: its store, FAISS index and settings."""

    root: Path
    store: EmbeddingStore
    kind: str
    encoder_ref: str  # what :func:`wsrl.encoder.checkpoint.load_encoder` loads to embed queries and additions
    codes: str = CODES[0]  # the FAISS file's vector codes; the store keeps float32 embeddings whatever they are

    # -- files -----------------------------------------------------------------------------
    @classmethod
    def create(
        cls, root: str | os.PathLike, store: EmbeddingStore, encoder_ref: str, kind: str = "exact",
        codes: str = CODES[0],
    ) -> NeRFIndex:  # fmt: skip
        """Write a new index of ``store`` (refuses a folder that holds one)."""
        root = Path(root)
        if kind not in KINDS:
            raise WsrlError(f"index kind must be one of {KINDS}, got {kind!r}")
        if codes not in CODES:
            raise WsrlError(f"index codes must be one of {CODES}, got {codes!r}")
        if (root / META_FILE).exists():
            raise WsrlError(f"{root}: holds an index already; add to it with `wsrl index add` or choose another --out")
        if not store.norms:
            raise WsrlError(
                "the embeddings hold no standardisation moments (a baseline, or made before wsrl kept them): "
                "build the index from a collection with --ckpt"
            )
        index = cls(root, store, kind, encoder_ref, codes)
        index.save()
        return index

    @classmethod
    def open(cls, root: str | os.PathLike) -> NeRFIndex:
        root = Path(root)
        path = root / META_FILE
        if not path.exists():
            raise WsrlError(f"{root}: not a wsrl index (no {META_FILE}; build one with `wsrl index build`)")
        meta = load_json(path, "wsrl index")
        open_envelope(meta, FORMAT, VERSION, str(path), "wsrl index")
        codes = meta.get("codes", CODES[0])  # indexes written before codes existed hold float32
        return cls(root, EmbeddingStore.load(root / STORE_FILE), meta["kind"], meta["encoder"], codes)

    def save(self) -> None:
        """Store, then FAISS file, then settings (each atomic)."""
        self.store.save(self.root / STORE_FILE)
        self._write_faiss()
        body = {"kind": self.kind, "codes": self.codes, "encoder": self.encoder_ref, "count": len(self.store)}
        save_json(self.root / META_FILE, envelope(FORMAT, VERSION, body))

    def _write_faiss(self):
        import faiss

        index = _faiss_index(unit_vectors(self.store.embeddings), self.kind, self.codes)
        atomic_write(self.root / FAISS_FILE, lambda f: f.write(faiss.serialize_index(index).tobytes()))
        return index

    def faiss(self):
        """The FAISS index, rebuilt from the store when missing or behind it."""
        import faiss

        path = self.root / FAISS_FILE
        if path.exists():
            index = faiss.deserialize_index(np.frombuffer(path.read_bytes(), dtype=np.uint8))
            if index.ntotal == len(self.store):
                return index
        return self._write_faiss()

    # -- adding and searching ----------------------------------------------------------------
    def add_graphs(
        self, encoder: GMNEncoder, graphs: Sequence[Data], reference: GraphCollection | Sequence[Data] | None = None
    ) -> int:  # fmt: skip
        """Embed ``graphs`` whose source the index does not hold yet and append them; returns how many.
        Architectures the index holds are standardised with its stored moments, others with the encoder's or, for
        an architecture it never trained on, with those of its reference population in ``reference`` (kept)."""
        known = set(self.store.source)
        new = [g for g in graphs if not str(getattr(g, "source", "")) or str(g.source) not in known]
        if not new:
            return 0
        cols = graph_rows(new)
        norms = dict(self.store.norms)
        norms.update(encoder_norms(encoder, [a for a in dict.fromkeys(cols["arch"]) if a not in norms], reference))
        z = embed_with_norms(encoder, new, norms)
        old = self.store
        self.store = EmbeddingStore(
            torch.cat([old.embeddings, z]), old.object_id + cols["object_id"], old.label + cols["label"],
            old.arch + cols["arch"], old.split + cols["split"], old.meta, old.source + cols["source"], norms,
        )  # fmt: skip
        self.save()
        return len(new)

    def search(self, vectors: Tensor, k: int = 10) -> list[list[Hit]]:
        """The ``k`` best rows (cosine) of each query vector."""
        if k < 1:
            raise WsrlError(f"search: k must be >= 1, got {k}")
        index = self.faiss()
        scores, rows = index.search(unit_vectors(vectors), min(k, len(self.store)))
        return [
            [self.hit(int(j), float(c)) for c, j in zip(cs, js, strict=True) if j >= 0]
            for cs, js in zip(scores, rows, strict=True)
        ]

    def hit(self, row: int, score: float) -> Hit:
        return self.store.hit(row, score)

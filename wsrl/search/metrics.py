"""Benchmark metrics on embeddings: k-NN classification and same-object retrieval with FAISS (the paper's
MLP probe is :mod:`wsrl.search.mlp_probe`).

All searches are cosine (inner product of L2-normalised float32 vectors, ``IndexFlatIP``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

PROBES = ("knn", "mlp")  # classifiers on embeddings: cosine k-NN, the paper's MLP probe
# what a classifier is fitted on: each architecture's own train split, or the seen architectures' together
FITS = ("own", "seen")
RETRIEVAL_KS = (1, 5, 10)  # recall@k reported by the retrieval benchmark


def unit_vectors(x: Tensor | np.ndarray) -> np.ndarray:
    """Rows as contiguous float32 unit vectors (FAISS inner product = cosine)."""
    x = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def search(
    gallery: Tensor | np.ndarray, queries: Tensor | np.ndarray, k: int, with_scores: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Indices ``[Q, k]`` of each query's ``k`` nearest gallery vectors (cosine), best first (and, with
    ``with_scores``, their cosine similarities before them)."""
    import faiss

    g = unit_vectors(gallery)
    index = faiss.IndexFlatIP(g.shape[1])
    index.add(g)
    scores, top = index.search(unit_vectors(queries), min(k, g.shape[0]))
    return (scores, top) if with_scores else top


def knn_accuracy(
    train: Tensor | np.ndarray,
    train_labels: Sequence[int],
    test: Tensor | np.ndarray,
    test_labels: Sequence[int],
    k: int = 1,
) -> float:
    """Accuracy of a cosine k-NN majority vote (ties: the nearer neighbour's class)."""
    neighbours = search(train, test, k)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    votes = train_labels[neighbours]  # [Q, k]
    correct = 0
    for row, truth in zip(votes, test_labels, strict=True):
        counts = {c: (row == c).sum() for c in row}
        best = max(counts.values())
        correct += next(c for c in row if counts[c] == best) == truth
    return float(correct) / len(test_labels)


def recall_at_k(
    queries: Tensor | np.ndarray,
    query_ids: Sequence[str],
    gallery: Tensor | np.ndarray,
    gallery_ids: Sequence[str],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[int, float]:
    """Fraction of queries whose own object is among their ``k`` nearest gallery items (the paper's recall@k)."""
    top = search(gallery, queries, max(ks))
    gallery_ids = np.asarray(gallery_ids)
    hit_rank = [
        next((r for r, j in enumerate(row) if gallery_ids[j] == q), len(row))
        for row, q in zip(top, query_ids, strict=True)
    ]
    hit_rank = np.asarray(hit_rank)
    return {k: float((hit_rank < k).mean()) for k in ks}


def precision_at_k(
    queries: Tensor | np.ndarray,
    query_labels: Sequence[int],
    gallery: Tensor | np.ndarray,
    gallery_labels: Sequence[int],
    k: int = 10,
) -> float:
    """Mean fraction of each query's ``k`` nearest gallery items that share its class."""
    top = search(gallery, queries, k)
    same = np.asarray(gallery_labels)[top] == np.asarray(query_labels)[:, None]
    return float(same.mean())

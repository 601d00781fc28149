"""The benchmark protocol on an embedding store: k-NN classification and cross-architecture retrieval."""

from __future__ import annotations

from wsrl.archs import get_arch
from wsrl.eval import PROBES, knn_accuracy, precision_at_k, probe_accuracy, recall_at_k
from wsrl.index import EmbeddingStore


def classify(store: EmbeddingStore, k: int = 1, scale: str = "mini", probe: str = "knn", split: str = "test") -> dict:
    """Classification per architecture, fitted on that architecture's train split, scored on ``split``
    (``val`` for choosing settings, ``test`` for reporting): a cosine k-NN (``probe="knn"``) or the
    paper's MLP probe (``probe="mlp"``)."""
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    per_arch = {}
    for arch in store.archs:
        train, test = store.select(arch, "train"), store.select(arch, split)
        if not test.object_id:
            raise ValueError(f"arch {arch!r}: no embeddings of split {split!r} to score")
        if probe == "knn":
            per_arch[arch] = knn_accuracy(train.embeddings, train.label, test.embeddings, test.label, k)
        else:
            per_arch[arch] = probe_accuracy(train.embeddings, train.label, test.embeddings, test.label)
    seen = [v for a, v in per_arch.items() if get_arch(a, scale).seen]
    unseen = [v for a, v in per_arch.items() if not get_arch(a, scale).seen]
    return {
        "probe": probe,
        "split": split,
        "k": k,
        "per_arch": per_arch,
        "seen_mean": sum(seen) / len(seen) if seen else None,
        "unseen_mean": sum(unseen) / len(unseen) if unseen else None,
    }


def retrieve(store: EmbeddingStore, ks: tuple[int, ...] = (1, 5, 10), split: str = "test", scale: str = "mini") -> dict:
    """Every (query arch, gallery arch) pair on ``split``: recall@k of the same object, precision@k of the class;
    recall means over all pairs of different architectures, and over those of two seen architectures."""
    pairs = {}
    for q in store.archs:
        for g in store.archs:
            query, gallery = store.select(q, split), store.select(g, split)
            recall = recall_at_k(query.embeddings, query.object_id, gallery.embeddings, gallery.object_id, ks)
            row = {f"recall@{k}": v for k, v in recall.items()}
            row[f"precision@{max(ks)}"] = precision_at_k(
                query.embeddings, query.label, gallery.embeddings, gallery.label, max(ks)
            )
            pairs[f"{q}->{g}"] = row
    cross = {key: v for key, v in pairs.items() if key.split("->")[0] != key.split("->")[1]}
    seen = {key: v for key, v in cross.items() if all(get_arch(a, scale).seen for a in key.split("->"))}
    means = {}
    for prefix, rows in (("", cross), ("seen_", seen)):
        for k in ks:
            values = [v[f"recall@{k}"] for v in rows.values()]
            means[f"{prefix}cross_arch_recall@{k}_mean"] = sum(values) / len(values) if values else None
    return {"pairs": pairs, **means}

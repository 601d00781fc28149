"""The benchmark protocol on an embedding store: k-NN classification and cross-architecture retrieval.

Which architectures count as *seen* is a property of the encoder's training run, recorded in the store
(``meta["seen_archs"]``) or given explicitly; means are reported over seen and unseen architectures apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from wsrl.errors import WsrlError
from wsrl.search.metrics import (
    FITS,
    PROBES,
    RETRIEVAL_KS,
    knn_accuracy,
    precision_at_k,
    recall_at_k,
    unit_vectors,
)
from wsrl.search.mlp_probe import MLPProbeConfig, fit_mlp_probe, probe_accuracy
from wsrl.search.store import EmbeddingStore


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def classify(
    store: EmbeddingStore,
    k: int = 1,
    probe: str = "knn",
    split: str = "test",
    seen: Sequence[str] | None = None,
    fit: str = "own",
    seed: int = 0,
    mlp: MLPProbeConfig = MLPProbeConfig(),
) -> dict:
    """Classification of every architecture's ``split`` (``val`` for choosing settings, ``test`` for
    reporting) by a cosine k-NN (``probe="knn"``) or the paper's MLP probe (``probe="mlp"``, its epoch chosen
    on the val split), fitted on the train split of that architecture alone (``fit="own"``) or of the seen
    architectures together (``fit="seen"``: the stricter protocol, where an unseen architecture's embeddings
    must land in the seen ones' space). ``seen`` defaults to the store's record of the encoder's run."""
    if probe not in PROBES:
        raise WsrlError(f"probe must be one of {PROBES}, got {probe!r}")
    if fit not in FITS:
        raise WsrlError(f"fit must be one of {FITS}, got {fit!r}")
    if k < 1:
        raise WsrlError(f"k must be >= 1, got {k}")
    if all(label < 0 for label in store.label):
        raise WsrlError("classification needs class labels, and these embeddings have none")
    seen = list(store.seen_archs if seen is None else seen)
    if fit == "seen" and not set(seen) & set(store.archs):
        raise WsrlError(f"fit='seen' needs embeddings of a seen architecture {seen}; the store holds {store.archs}")

    def fitted_on(arch: str, part: str) -> EmbeddingStore:
        pool = [arch] if fit == "own" else [a for a in store.archs if a in seen]
        rows = [i for i, (a, s) in enumerate(zip(store.arch, store.split, strict=True)) if a in pool and s == part]
        return store.rows(rows)

    n_classes = max(store.label) + 1
    probes: dict[str, nn.Module] = {}  # fitted MLP probes by what they were fitted on (fit="seen": one for all)

    def mlp_probe(arch: str, train: EmbeddingStore) -> nn.Module:
        key = arch if fit == "own" else ""
        if key not in probes:
            val = fitted_on(arch, "val")
            if not val.object_id:
                raise WsrlError(f"arch {arch!r}: the MLP probe chooses its epoch on the 'val' split, which is empty")
            probes[key] = fit_mlp_probe(train.embeddings, train.label, val.embeddings, val.label, n_classes, seed, mlp)
        return probes[key]

    per_arch = {}
    for arch in store.archs:
        train, test = fitted_on(arch, "train"), store.select(arch, split)
        if not train.object_id or not test.object_id:
            raise WsrlError(f"arch {arch!r}: classification needs embeddings of splits 'train' and {split!r}")
        if probe == "knn":
            per_arch[arch] = knn_accuracy(train.embeddings, train.label, test.embeddings, test.label, k)
        else:
            per_arch[arch] = probe_accuracy(mlp_probe(arch, train), test.embeddings, test.label)
    return {
        "probe": probe,
        "fit": fit,
        "split": split,
        "k": k,
        "seen_archs": seen,
        "per_arch": per_arch,
        "seen_mean": _mean([v for a, v in per_arch.items() if a in seen]),
        "unseen_mean": _mean([v for a, v in per_arch.items() if a not in seen]),
    }


def retrieve(
    store: EmbeddingStore,
    ks: tuple[int, ...] = RETRIEVAL_KS,
    split: str | None = "test",
    seen: Sequence[str] | None = None,
) -> dict:
    """Every (query arch, gallery arch) pair on ``split`` (None: every row): recall@k of the same object,
    precision@k of the class; recall means over all pairs of different architectures, and over those of
    two seen architectures."""
    if min(ks) < 1:
        raise WsrlError(f"k must be >= 1, got {min(ks)}")
    if len(store.archs) < 2:
        raise WsrlError(f"cross-architecture retrieval needs two architectures; the store holds {store.archs}")
    seen = list(store.seen_archs if seen is None else seen)
    pairs = {}
    for q in store.archs:
        for g in store.archs:
            query, gallery = store.select(q, split), store.select(g, split)
            if not query.object_id or not gallery.object_id:
                raise WsrlError(f"no embeddings of split {split!r} in architecture {q if not query.object_id else g!r}")
            recall = recall_at_k(query.embeddings, query.object_id, gallery.embeddings, gallery.object_id, ks)
            row = {f"recall@{k}": v for k, v in recall.items()}
            row[f"precision@{max(ks)}"] = precision_at_k(
                query.embeddings, query.label, gallery.embeddings, gallery.label, max(ks)
            )
            pairs[f"{q}->{g}"] = row
    cross = {key: v for key, v in pairs.items() if key.split("->")[0] != key.split("->")[1]}
    seen_pairs = {key: v for key, v in cross.items() if all(a in seen for a in key.split("->"))}
    means = {}
    for prefix, rows in (("", cross), ("seen_", seen_pairs)):
        for k in ks:
            means[f"{prefix}cross_arch_recall@{k}_mean"] = _mean([v[f"recall@{k}"] for v in rows.values()])
    return {"split": split, "seen_archs": seen, "pairs": pairs, **means}


def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of independent values (sample standard deviation / sqrt(n))."""
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def leave_one_out(store: EmbeddingStore, seen: Sequence[str] | None = None) -> dict:
    """Every NeRF scored against all the others, splits ignored (for a collection no encoder trained on):
    1-NN class of each NeRF among the other objects of its architecture, and, for every pair of different
    architectures, whether its nearest NeRF of the other architecture is the same object (recall@1).

    Objects are the independent unit (one object's NeRFs in several architectures are not independent
    predictions), so each object gets its mean over the seen architectures, the unseen ones and the pairs;
    the means and their standard errors are over objects, and ``per_object`` keeps the values so two methods
    can be compared object by object (:func:`paired_difference`)."""
    seen = list(store.seen_archs if seen is None else seen)
    if all(label < 0 for label in store.label):
        raise WsrlError("classification needs class labels, and these embeddings have none")
    by_arch = {a: store.select(a) for a in store.archs}
    objects = sorted(set(by_arch[store.archs[0]].object_id))
    for arch, part in by_arch.items():
        if sorted(part.object_id) != objects or len(part.object_id) < 2:
            raise WsrlError(f"leave-one-out needs the same (>= 2) objects in every architecture; {arch!r} differs")
    order = {a: [part.object_id.index(o) for o in objects] for a, part in by_arch.items()}
    z = {a: unit_vectors(part.embeddings)[order[a]] for a, part in by_arch.items()}
    labels = np.asarray(by_arch[store.archs[0]].label)[order[store.archs[0]]]
    correct = {}
    for arch, x in z.items():
        sim = x @ x.T
        np.fill_diagonal(sim, -np.inf)
        correct[arch] = (labels[sim.argmax(1)] == labels).astype(float)
    hits = {f"{q}->{g}": (np.arange(len(objects)) == (z[q] @ z[g].T).argmax(1)).astype(float)
            for q in store.archs for g in store.archs if q != g}  # fmt: skip
    groups = {
        "seen": [correct[a] for a in store.archs if a in seen],
        "unseen": [correct[a] for a in store.archs if a not in seen],
        "recall@1": list(hits.values()),
    }
    per_object = {name: np.mean(v, axis=0) for name, v in groups.items() if v}
    return {
        "protocol": "leave-one-out",
        "n_objects": len(objects),
        "seen_archs": seen,
        "per_arch": {a: float(c.mean()) for a, c in correct.items()},
        "pairs": {p: float(h.mean()) for p, h in hits.items()},
        "means": {name: float(v.mean()) for name, v in per_object.items()},
        "standard_errors": {name: standard_error(v) for name, v in per_object.items()},
        "per_object": {name: v.tolist() for name, v in per_object.items()},
    }


def paired_difference(a: dict, b: dict) -> dict:
    """``a`` minus ``b`` (two :func:`leave_one_out` results on the same objects): per measure the mean difference
    and its standard error over objects (paired, so the objects' shared difficulty cancels)."""
    out = {}
    for name in a["per_object"]:
        d = np.asarray(a["per_object"][name]) - np.asarray(b["per_object"][name])
        out[name] = {"mean": float(d.mean()), "se": standard_error(d)}
    return out

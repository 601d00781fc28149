"""``wsrl bench all``: a trained encoder and two baselines, scored on a labelled collection (a zoo, or
converted checkpoints with labels and splits), in one report folder.

REPORT/ holds::

    results.json            knn_accuracy, retrieval, baselines (the same keys per baseline)
    results.md              the summary table, k-NN per architecture, the recall@1 matrix
    knn.csv, retrieval.csv  every number of every method
    embeddings/<method>.pt  the embedding stores (``wsrl bench classify|retrieve`` read them)
    tsne_class.png, tsne_arch.png, tsne_pooled_arch.png, recall_heatmap.png, retrieval.png

The baselines are the encoder untrained (same config, freshly initialised), weight statistics
(:mod:`wsrl.graph.statistics`) and the probe, the field itself at a fixed grid of points
(:mod:`wsrl.graph.probe`); all four are standardised per architecture alike.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from wsrl.encoder.checkpoint import load_encoder
from wsrl.encoder.gmn import untrained_encoder
from wsrl.files import save_csv, save_json, save_text
from wsrl.graph.collection import GraphCollection
from wsrl.nerf.render import render_portrait
from wsrl.report.figures import class_names, recall_heatmap, retrieval_grid, tsne_map
from wsrl.search.metrics import search
from wsrl.search.mlp_probe import MLPProbeConfig
from wsrl.search.protocol import classify, retrieve
from wsrl.search.store import (
    EmbeddingStore,
    embed_collection,
    pool_collection,
    pooled_collection,
    probe_collection,
    weight_statistics_collection,
)

METHODS = ("trained", "untrained", "weight_statistics", "probe")
TSNE_POINTS = 3000  # t-SNE of at most this many NeRFs (a fixed random subset beyond)


def stores(
    data: GraphCollection, ckpt: str | os.PathLike, seed: int = 0
) -> tuple[dict[str, EmbeddingStore], EmbeddingStore]:  # fmt: skip
    """The embedding store of each method of :data:`METHODS`, and the trained encoder's pooled features before
    standardisation (from the same pooling); every store records the trained encoder's architectures as the
    seen ones. Every NeRF is embedded alone; what an architecture is standardised against is the encoder's
    stored moments (its training split) or else ``data``'s train split of that architecture, so no test NeRF
    shapes any embedding."""
    trained = load_encoder(ckpt)
    seen = {"seen_archs": list(trained.trained_archs)}
    untrained = untrained_encoder(trained.config, seed)
    pooled = pool_collection(trained, data)
    return {
        "trained": embed_collection(trained, data, data, {"encoder": str(ckpt)}, pooled),
        "untrained": embed_collection(untrained, data, data, {"encoder": "untrained", **seen}),
        "weight_statistics": weight_statistics_collection(data, data, seen),
        "probe": probe_collection(data, data, seen),
    }, pooled_collection(trained, data, pooled=pooled)


def score(store: EmbeddingStore, k: int = 1, mlp: MLPProbeConfig | None = MLPProbeConfig(), seed: int = 0) -> dict:
    """The test-split scores of one store: k-NN fitted on each architecture's train split (``knn_accuracy``) and
    on the seen architectures' (``knn_from_seen``), the same two for the paper's MLP probe (``mlp_accuracy``,
    ``mlp_from_seen``; skipped when ``mlp`` is None), and cross-architecture ``retrieval``."""
    out = {"knn_accuracy": classify(store, k), "knn_from_seen": classify(store, k, fit="seen")}
    if mlp is not None:
        out["mlp_accuracy"] = classify(store, probe="mlp", seed=seed, mlp=mlp)
        out["mlp_from_seen"] = classify(store, probe="mlp", fit="seen", seed=seed, mlp=mlp)
    return {**out, "retrieval": retrieve(store)}


def recall_matrix(retrieval: dict, archs: list[str]) -> np.ndarray:
    return np.array([[retrieval["pairs"][f"{q}->{g}"]["recall@1"] for g in archs] for q in archs])


def percent(v: float | None) -> str:
    """A fraction as a percentage with one decimal, ``n/a`` for a missing mean."""
    return "n/a" if v is None else f"{100 * v:.1f}"


def ratio(v: float | None) -> str:
    """A fraction with three decimals, ``n/a`` for a missing mean."""
    return "n/a" if v is None else f"{v:.3f}"


SUMMARY_COLUMNS = {  # summary column -> (score key, field, formatter, short name for the terminal)
    "k-NN seen (%)": ("knn_accuracy", "seen_mean", "percent", "kNN seen"),
    "k-NN unseen (%)": ("knn_accuracy", "unseen_mean", "percent", "kNN unseen"),
    "k-NN unseen, fitted on seen (%)": ("knn_from_seen", "unseen_mean", "percent", "kNN unseen*"),
    "MLP seen (%)": ("mlp_accuracy", "seen_mean", "percent", "MLP seen"),
    "MLP unseen (%)": ("mlp_accuracy", "unseen_mean", "percent", "MLP unseen"),
    "MLP unseen, fitted on seen (%)": ("mlp_from_seen", "unseen_mean", "percent", "MLP unseen*"),
    "cross-arch recall@1": ("retrieval", "cross_arch_recall@1_mean", "ratio", "R@1"),
    "cross-arch recall@5": ("retrieval", "cross_arch_recall@5_mean", "ratio", "R@5"),
    "recall@1, seen pairs": ("retrieval", "seen_cross_arch_recall@1_mean", "ratio", "seen R@1"),
}
FORMATS = {"percent": percent, "ratio": ratio}


def summary_cells(row: dict) -> dict[str, str]:
    """A :func:`summary_rows` row's values formatted, by column."""
    return {c: FORMATS[SUMMARY_COLUMNS[c][2]](v) for c, v in row.items() if c != "method"}


def summary_rows(results: dict) -> list[dict]:
    """One row per method, the :data:`SUMMARY_COLUMNS` present in ``results`` (classification means over seen
    and unseen architectures, recall means over all pairs of architectures and over pairs of seen ones)."""
    columns = {name: spec for name, spec in SUMMARY_COLUMNS.items() if spec[0] in results}
    scored = {"trained": results, **results["baselines"]}
    return [{"method": m, **{c: r[key][f] for c, (key, f, *_) in columns.items()}} for m, r in scored.items()]


def markdown(results: dict, archs: list[str]) -> str:
    """``results.md``: summary, k-NN per architecture, the trained encoder's recall@1 matrix."""
    scored = {"trained": results, **results["baselines"]}
    knn = results["knn_accuracy"]
    rows = summary_rows(results)
    columns = list(rows[0])[1:]
    lines = [
        f"# wsrl benchmark: {results['data']}",
        "",
        f"Encoder `{results['ckpt']}`; cosine k-NN (k={knn['k']}) and the paper's MLP probe, each fitted on the "
        "train split of the architecture scored, or on the seen architectures' together (stricter); retrieval and "
        "classification scored on the test split.",
        "",
        "| method | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for row in rows:
        lines.append(f"| {row['method']} | " + " | ".join(summary_cells(row).values()) + " |")
    lines += [
        "",
        "## k-NN classification accuracy per architecture (%)",
        "",
        "| architecture | seen | " + " | ".join(scored) + " |",
    ]
    lines.append("|---|---|" + "---|" * len(scored))
    for arch in archs:
        seen = "yes" if arch in knn["seen_archs"] else "no"
        lines.append(
            f"| {arch} | {seen} | "
            + " | ".join(percent(r["knn_accuracy"]["per_arch"][arch]) for r in scored.values())
            + " |"
        )
    matrix = recall_matrix(results["retrieval"], archs)
    lines += ["", "## Recall@1, trained encoder (rows: query architecture, columns: gallery)", ""]
    lines.append("| query \\ gallery | " + " | ".join(archs) + " |")
    lines.append("|---|" + "---|" * len(archs))
    lines += [f"| {q} | " + " | ".join(f"{v:.2f}" for v in matrix[i]) + " |" for i, q in enumerate(archs)]
    lines += ["", "![t-SNE by class](tsne_class.png) ![t-SNE by architecture](tsne_arch.png)", ""]
    lines += ["![t-SNE of the pooled features before standardisation, by architecture](tsne_pooled_arch.png)", ""]
    lines += ["![recall@1 heat map](recall_heatmap.png)", "", "![retrieval examples](retrieval.png)", ""]
    return "\n".join(lines)


def tsne_pictures(store: EmbeddingStore, pooled: EmbeddingStore, out: Path, seed: int) -> None:
    """t-SNE of the trained embeddings by class and by architecture, and of the pooled features before the
    per-architecture standardisation by architecture (``tsne_pooled_arch.png``)."""
    n = len(store.object_id)
    keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:TSNE_POINTS].sort().values.tolist()
    z, classes, archs = store.embeddings[keep], class_names(store.label), [store.arch[i] for i in keep]
    tsne_map(z, [classes[i] for i in keep], "trained embeddings by class", out / "tsne_class.png", seed)
    tsne_map(z, archs, "trained embeddings by architecture", out / "tsne_arch.png", seed)
    title = "pooled features before per-architecture standardisation"
    tsne_map(pooled.embeddings[keep], archs, title, out / "tsne_pooled_arch.png", seed)


def retrieval_picture(
    store: EmbeddingStore, data: GraphCollection, out: Path, n_queries: int = 6, top: int = 5
) -> None:
    """Test queries of the first architecture (one per class, up to ``n_queries``) against the test
    NeRFs of every other architecture."""
    query_arch = store.archs[0]
    queries = store.select(query_arch, "test")
    gallery = store.select(None, "test")
    others = [i for i, a in enumerate(gallery.arch) if a != query_arch]
    first_of_class: dict[int, int] = {}
    for i, label in enumerate(queries.label):
        first_of_class.setdefault(label, i)
    picked = list(first_of_class.values())[:n_queries]
    top_idx = search(gallery.embeddings[others], queries.embeddings[picked], top)
    res, rows, heads = 48, [], []
    for qi, hits in zip(picked, top_idx, strict=True):
        qid, qlabel = queries.object_id[qi], queries.label[qi]
        heads.append((render_portrait(data.nerf(query_arch, qid), res), f"query {query_arch}\n{qid}"))
        row = []
        for j in hits:
            g = others[j]
            gid, garch = gallery.object_id[g], gallery.arch[g]
            verdict = "object" if gid == qid else "class" if gallery.label[g] == qlabel else "miss"
            row.append((render_portrait(data.nerf(garch, gid), res), f"{garch}\n{gid}", verdict))
        rows.append(row)
    retrieval_grid(heads, rows, out / "retrieval.png")


def bench_all(
    data_dir: str | os.PathLike,
    ckpt: str | os.PathLike,
    out: str | os.PathLike,
    k: int = 1,
    mlp: MLPProbeConfig | None = MLPProbeConfig(),
    seed: int = 0,
) -> dict:
    """Embed the zoo with every method, score them, write the report folder; returns ``results.json``'s dict."""
    started, out = time.time(), Path(out)
    data = GraphCollection(data_dir)
    data.require(labels=True, splits=True, what="bench all")
    by_method, pooled = stores(data, ckpt, seed)
    for name, store in by_method.items():
        store.save(out / "embeddings" / f"{name}.pt")
    scores = {name: score(store, k, mlp, seed) for name, store in by_method.items()}
    results = {
        "data": str(data_dir),
        "ckpt": str(ckpt),
        **scores["trained"],
        "baselines": {name: scores[name] for name in METHODS[1:]},
    }
    archs = by_method["trained"].archs
    knn_rows = [
        {
            "method": m,
            "arch": a,
            "seen": a in s["knn_accuracy"]["seen_archs"],
            "accuracy": s["knn_accuracy"]["per_arch"][a],
        }
        for m, s in scores.items()
        for a in archs
    ]
    retrieval_rows = [
        {"method": m, "query": pair.split("->")[0], "gallery": pair.split("->")[1], **row}
        for m, s in scores.items()
        for pair, row in s["retrieval"]["pairs"].items()
    ]
    save_csv(out / "knn.csv", knn_rows)
    save_csv(out / "retrieval.csv", retrieval_rows)
    tsne_pictures(by_method["trained"], pooled, out, seed)
    recall_heatmap(
        recall_matrix(results["retrieval"], archs),
        archs,
        "recall@1, trained encoder (test split)",
        out / "recall_heatmap.png",
    )
    retrieval_picture(by_method["trained"], data, out)
    results["seconds"] = time.time() - started
    save_json(out / "results.json", results)
    save_text(out / "results.md", markdown(results, archs))
    return results

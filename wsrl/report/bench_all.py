"""``wsrl bench all``: a trained encoder and two baselines, scored on a labelled collection (a zoo, or
converted checkpoints with labels and splits), in one report folder.

REPORT/ holds::

    results.json            knn_accuracy, retrieval, baselines (the same keys per baseline)
    results.md              the summary table, k-NN per architecture, the recall@1 matrix
    knn.csv, retrieval.csv  every number of every method
    embeddings/<method>.pt  the embedding stores (``wsrl bench classify|retrieve`` read them)
    tsne_class.png, tsne_arch.png, recall_heatmap.png, retrieval.png

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
from wsrl.search.protocol import classify, retrieve
from wsrl.search.store import EmbeddingStore, embed_collection, probe_collection, weight_statistics_collection

METHODS = ("trained", "untrained", "weight_statistics", "probe")
TSNE_POINTS = 3000  # t-SNE of at most this many NeRFs (a fixed random subset beyond)


def stores(data: GraphCollection, ckpt: str | os.PathLike, seed: int = 0) -> dict[str, EmbeddingStore]:
    """The embedding store of each method of :data:`METHODS`; every store records the trained encoder's
    architectures as the seen ones."""
    trained = load_encoder(ckpt)
    seen = {"seen_archs": list(trained.trained_archs)}
    untrained = untrained_encoder(trained.config, seed)
    return {
        "trained": embed_collection(trained, data, {"encoder": str(ckpt)}),
        "untrained": embed_collection(untrained, data, {"encoder": "untrained", **seen}),
        "weight_statistics": weight_statistics_collection(data, seen),
        "probe": probe_collection(data, seen),
    }


def score(store: EmbeddingStore, k: int = 1, probe: str = "knn") -> dict:
    """``knn_accuracy`` and ``retrieval`` of one store (test split; classifiers fitted on train)."""
    return {"knn_accuracy": classify(store, k, probe=probe), "retrieval": retrieve(store)}


def recall_matrix(retrieval: dict, archs: list[str]) -> np.ndarray:
    return np.array([[retrieval["pairs"][f"{q}->{g}"]["recall@1"] for g in archs] for q in archs])


def percent(v: float | None) -> str:
    """A fraction as a percentage with one decimal, ``n/a`` for a missing mean."""
    return "n/a" if v is None else f"{100 * v:.1f}"


def ratio(v: float | None) -> str:
    """A fraction with three decimals, ``n/a`` for a missing mean."""
    return "n/a" if v is None else f"{v:.3f}"


def summary_rows(results: dict) -> list[dict]:
    """One row per method: classification seen/unseen means, cross-architecture recall@1/@5 over all
    pairs of architectures, and recall@1 over pairs of seen architectures (those trained on)."""
    rows = []
    for name, r in {"trained": results, **results["baselines"]}.items():
        rows.append(
            {
                "method": name,
                "seen": r["knn_accuracy"]["seen_mean"],
                "unseen": r["knn_accuracy"]["unseen_mean"],
                "recall@1": r["retrieval"]["cross_arch_recall@1_mean"],
                "recall@5": r["retrieval"]["cross_arch_recall@5_mean"],
                "seen recall@1": r["retrieval"]["seen_cross_arch_recall@1_mean"],
            }
        )
    return rows


def markdown(results: dict, archs: list[str]) -> str:
    """``results.md``: summary, k-NN per architecture, the trained encoder's recall@1 matrix."""
    scored = {"trained": results, **results["baselines"]}
    knn = results["knn_accuracy"]
    lines = [
        f"# wsrl benchmark: {results['data']}",
        "",
        f"Encoder `{results['ckpt']}`; classifier {knn['probe']}"
        + (f" (k={knn['k']})" if knn["probe"] == "knn" else "")
        + "; retrieval and classification scored on the test split.",
        "",
        "| method | classification, seen archs (%) | classification, unseen archs (%) "
        "| cross-arch recall@1 | cross-arch recall@5 | recall@1, seen pairs |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary_rows(results):
        name, seen, unseen, r1, r5, seen_r1 = row.values()
        cells = [name, percent(seen), percent(unseen), ratio(r1), ratio(r5), ratio(seen_r1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Classification accuracy per architecture (%)",
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
    lines += ["![recall@1 heat map](recall_heatmap.png)", "", "![retrieval examples](retrieval.png)", ""]
    return "\n".join(lines)


def _tsne_pictures(store: EmbeddingStore, out: Path, seed: int) -> None:
    n = len(store.object_id)
    keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:TSNE_POINTS].sort().values.tolist()
    z, classes = store.embeddings[keep], class_names(store.label)
    tsne_map(z, [classes[i] for i in keep], "trained embeddings by class", out / "tsne_class.png", seed)
    tsne_map(z, [store.arch[i] for i in keep], "trained embeddings by architecture", out / "tsne_arch.png", seed)


def _retrieval_picture(
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
    probe: str = "knn",
    seed: int = 0,
) -> dict:
    """Embed the zoo with every method, score them, write the report folder; returns ``results.json``'s dict."""
    started, out = time.time(), Path(out)
    data = GraphCollection(data_dir)
    data.require(labels=True, splits=True, what="bench all")
    by_method = stores(data, ckpt, seed)
    for name, store in by_method.items():
        store.save(out / "embeddings" / f"{name}.pt")
    scores = {name: score(store, k, probe) for name, store in by_method.items()}
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
    _tsne_pictures(by_method["trained"], out, seed)
    recall_heatmap(
        recall_matrix(results["retrieval"], archs),
        archs,
        "recall@1, trained encoder (test split)",
        out / "recall_heatmap.png",
    )
    _retrieval_picture(by_method["trained"], data, out)
    results["seconds"] = time.time() - started
    save_json(out / "results.json", results)
    save_text(out / "results.md", markdown(results, archs))
    return results

"""A report on a collection no encoder trained on (``wsrl demo``'s held-out zoo): the encoder and the
baselines of :mod:`wsrl.report.bench_all`, every NeRF scored against all the others (leave-one-out), with
standard errors over objects and the encoder's paired differences to each baseline.

REPORT/ holds ``results.json``, ``results.md``, ``embeddings/<method>.pt``, the t-SNE maps and the retrieval
examples (``tsne_class.png``, ``tsne_arch.png``, ``tsne_pooled_arch.png``, ``retrieval.png``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from wsrl.files import load_json, save_json, save_text
from wsrl.graph.collection import GraphCollection
from wsrl.report.bench_all import METHODS, retrieval_picture, stores, tsne_pictures
from wsrl.search.protocol import leave_one_out, paired_difference

MEASURES = {"seen": "k-NN seen (%)", "unseen": "k-NN unseen (%)", "recall@1": "cross-arch recall@1"}


def cell(name: str, mean: float, se: float) -> str:
    """``mean ± se`` in the measure's unit (classification in %, recall as a fraction)."""
    return f"{100 * mean:.1f} ± {100 * se:.1f}" if name != "recall@1" else f"{mean:.3f} ± {se:.3f}"


def summary_lines(results: dict) -> list[str]:
    """The markdown table of every method's means ± standard errors, and the encoder minus each baseline."""
    loo, columns = results["methods"], [m for m in MEASURES if m in results["methods"]["trained"]["means"]]
    lines = ["| method | " + " | ".join(MEASURES[c] for c in columns) + " |", "|---|" + "---|" * len(columns)]
    for method, r in loo.items():
        cells = [cell(c, r["means"][c], r["standard_errors"][c]) for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for baseline, diff in results["trained_minus"].items():
        cells = [cell(c, diff[c]["mean"], diff[c]["se"]) for c in columns]
        lines.append(f"| trained − {baseline} | " + " | ".join(cells) + " |")
    return lines


def held_out_report(
    data_dir: str | os.PathLike, ckpt: str | os.PathLike, out: str | os.PathLike, seed: int = 0
) -> dict:
    """Embed a labelled collection with the encoder and every baseline, score each leave-one-out, write the
    report folder; returns ``results.json``'s dict. A finished report of the same collection, encoder and seed
    in ``out`` is returned as it is (``results.json`` is written last, so it exists only when all else does)."""
    started, out = time.time(), Path(out)
    if (out / "results.json").exists():
        done = load_json(out / "results.json", "held-out report")
        if isinstance(done, dict) and (done.get("data"), done.get("ckpt"), done.get("seed")) == (
            str(data_dir),
            str(ckpt),
            seed,
        ):
            return done
    data = GraphCollection(data_dir)
    data.require(labels=True, splits=True, what="the held-out report")
    by_method, pooled = stores(data, ckpt, seed)
    for name, store in by_method.items():
        store.save(out / "embeddings" / f"{name}.pt")
    loo = {name: leave_one_out(store) for name, store in by_method.items()}
    results = {
        "data": str(data_dir),
        "ckpt": str(ckpt),
        "seed": seed,
        "methods": loo,
        "trained_minus": {m: paired_difference(loo["trained"], loo[m]) for m in METHODS[1:]},
    }
    tsne_pictures(by_method["trained"], pooled, out, seed)
    retrieval_picture(by_method["trained"], data, out)
    results["seconds"] = time.time() - started
    archs = by_method["trained"].archs
    n = loo["trained"]["n_objects"]
    lines = [
        f"# wsrl held-out report: {data_dir}",
        "",
        f"Encoder `{ckpt}`. Every NeRF against all the others ({n} objects per architecture): 1-NN class among "
        "the other objects of its architecture, and recall@1 of the same object for every pair of different "
        f"architectures. Mean ± standard error over the {n} objects; the last rows are the encoder minus each "
        "baseline, paired by object.",
        "",
        *summary_lines(results),
        "",
        "## 1-NN accuracy per architecture (%)",
        "",
        "| architecture | seen | " + " | ".join(loo) + " |",
        "|---|---|" + "---|" * len(loo),
    ]
    seen = loo["trained"]["seen_archs"]
    for arch in archs:
        values = " | ".join(f"{100 * r['per_arch'][arch]:.1f}" for r in loo.values())
        lines.append(f"| {arch} | {'yes' if arch in seen else 'no'} | {values} |")
    lines += ["", "![t-SNE by class](tsne_class.png) ![t-SNE by architecture](tsne_arch.png)", ""]
    lines += ["![retrieval examples](retrieval.png)", ""]
    save_json(out / "results.json", results)
    save_text(out / "results.md", "\n".join(lines))
    return results

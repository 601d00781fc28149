"""The pictures of a benchmark report: embedding maps, the retrieval heat map, retrieval examples.

Each function takes plain data, draws one matplotlib figure and writes it atomically as PNG.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from wsrl.classes import CLASSES
from wsrl.errors import WsrlError
from wsrl.files import save_figure
from wsrl.nerf.checkpoint import NeRF
from wsrl.nerf.render import render_portrait
from wsrl.search.store import Hit


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tsne_map(embeddings: Tensor, groups: list[str], title: str, path: str | os.PathLike, seed: int = 0) -> Path:
    """A 2-D t-SNE of ``embeddings`` (cosine), one colour per distinct value of ``groups``."""
    from sklearn.manifold import TSNE

    plt = _pyplot()
    x = torch.nn.functional.normalize(embeddings.float(), dim=1).numpy()
    perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, metric="cosine").fit_transform(x)
    names = list(dict.fromkeys(groups))
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, 20))[: len(names)] if len(names) <= 20 else None
    fig, ax = plt.subplots(figsize=(7, 6))
    for i, name in enumerate(names):
        pick = np.asarray([g == name for g in groups])
        ax.scatter(xy[pick, 0], xy[pick, 1], s=8, label=name, color=None if colours is None else colours[i])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return save_figure(path, fig)


def recall_heatmap(matrix: np.ndarray, archs: list[str], title: str, path: str | os.PathLike) -> Path:
    """The query-architecture x gallery-architecture recall@1 matrix, annotated."""
    plt = _pyplot()
    n = len(archs)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    im = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(n), archs, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), archs, fontsize=7)
    ax.set_xlabel("gallery architecture")
    ax.set_ylabel("query architecture")
    for i in range(n):
        for j in range(n):
            v = matrix[i, j]
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5, color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(path, fig)


def retrieval_grid(
    queries: list[tuple[Tensor, str]],
    results: list[list[tuple[Tensor, str, str]]],
    path: str | os.PathLike,
    title: str = "query (left), top results in other architectures: green same object, orange same class",
) -> Path:
    """One row per query: its render and caption, then its top results as (render, caption, verdict),
    framed green for the same object, orange for the same class, grey otherwise (blue: a hit not judged)."""
    plt = _pyplot()
    frame = {"object": "tab:green", "class": "tab:orange", "miss": "0.6", "hit": "tab:blue"}
    cols = 1 + max(len(r) for r in results)
    fig, axes = plt.subplots(len(queries), cols, figsize=(1.45 * cols, 1.6 * len(queries)), squeeze=False)
    for r, ((image, caption), row) in enumerate(zip(queries, results, strict=True)):
        cells = [(image, caption, None), *row]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(cells):
                ax.axis("off")
                continue
            image, caption, verdict = cells[c]
            ax.imshow(image.numpy())
            ax.set_title(caption, fontsize=5.5)
            for side in ax.spines.values():
                side.set_color("black" if verdict is None else frame[verdict])
                side.set_linewidth(1.0 if verdict is None else 2.5)
    fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    return save_figure(path, fig)


def class_names(labels: list[int]) -> list[str]:
    """Class names of labels (``?`` for unknown)."""
    return [CLASSES[i] if 0 <= i < len(CLASSES) else "?" for i in labels]


PICTURE_RES = 64  # pixels of each render in a search picture


def search_picture(query: NeRF, caption: str, hits: list[Hit], path: str | os.PathLike) -> Path:
    """The query NeRF and its hits, each rendered from its own checkpoint (a hit whose checkpoint cannot be
    read again shows as a grey square), with architecture, id and cosine score."""
    from wsrl.converters import read_checkpoint

    def portrait(nerf: NeRF) -> Tensor:
        return render_portrait(nerf, PICTURE_RES)

    row = []
    for hit in hits:
        try:
            image = portrait(read_checkpoint(hit.source))
        except WsrlError:
            image = torch.full((PICTURE_RES, PICTURE_RES, 3), 0.5)
        row.append((image, f"{hit.arch}\n{Path(hit.id).name[:18]}\n{hit.score:.3f}", "hit"))
    head = (portrait(query), f"query {query.spec.name}\n{Path(caption).name[:18]}")
    return retrieval_grid([head], [row], path, "query (left) and its nearest NeRFs in the index, by cosine score")

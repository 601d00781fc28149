"""Weight statistics of a parameter graph: the benchmark's no-learning baseline, and an encoder input.

After Unterthiner et al. (2020), "Predicting neural network accuracy from weights": per group of
parameters, a few order statistics. Groups are defined by role, not by architecture, so that
every NeRF gets a vector of the same length and the features can be compared across
architectures: the grid (tri-plane cells or hash entries), the first, middle and last MLP
layers and the biases, plus all parameters together.

The GMN encoder reads them too, beside its pooled edge states (:mod:`wsrl.encoder.gmn`): message passing
sees values standardised per layer, and these order statistics of the raw values are cheap to
give it exactly rather than to learn.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.graph.schema import EDGE_TYPES, EdgeColumn

GROUPS = ("all", "grid", "first", "middle", "last", "bias")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
STATS = ("mean", "std", "mean_abs", *(f"q{int(100 * q):02d}" for q in QUANTILES), "log_count")
STATS_DIM = len(GROUPS) * len(STATS)
# variance floors of standardised statistics: absolute, and relative to the column's mean squared. Hash-entry
# statistics vary by ~1e-5 and must keep their scale; float32 rounding of constant columns is ~1e-14 relative.
STATS_EPS, STATS_REL_EPS = 1e-30, 1e-10


def _groups(edge_attr: Tensor) -> dict[str, Tensor]:
    """Parameter values of each role group (empty where an architecture has none)."""
    value = edge_attr[:, EdgeColumn.VALUE]
    layer, kind = edge_attr[:, EdgeColumn.LAYER].long(), edge_attr[:, EdgeColumn.TYPE].long()
    grid = (kind == EDGE_TYPES["triplane"]) | (kind == EDGE_TYPES["hash"])
    linear = kind == EDGE_TYPES["linear"]
    layers = layer[linear]
    first, last = (int(layers.min()), int(layers.max())) if layers.numel() else (0, 0)
    return {
        "all": value,
        "grid": value[grid],
        "first": value[linear & (layer == first)],
        "middle": value[linear & (layer > first) & (layer < last)],
        "last": value[linear & (layer == last)],
        "bias": value[kind == EDGE_TYPES["bias"]],
    }


def _stats(values: Tensor) -> Tensor:
    if values.numel() == 0:
        return torch.zeros(len(STATS), dtype=values.dtype)
    q = torch.quantile(values.double(), torch.tensor(QUANTILES, dtype=torch.float64)).to(values.dtype)
    head = torch.stack([values.mean(), values.std(unbiased=False), values.abs().mean()])
    return torch.cat([head, q, torch.tensor([float(values.numel())], dtype=values.dtype).log1p()])


def weight_statistics(graph: Data) -> Tensor:
    """The feature vector ``[len(GROUPS) * len(STATS)]`` of one parameter graph."""
    return edge_statistics(graph.edge_attr)


def edge_statistics(edge_attr: Tensor) -> Tensor:
    """The feature vector ``[len(GROUPS) * len(STATS)]`` of one graph's ``edge_attr``."""
    groups = _groups(edge_attr)
    return torch.cat([_stats(groups[name]) for name in GROUPS])

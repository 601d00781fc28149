"""Per-population standardisation, as domain-specific batch normalisation (Chang et al., CVPR 2019)
without running statistics: the GMN readout (:mod:`wsrl.encoder.gmn`) and the weight-statistics baseline
compare NeRFs through features standardised over their architecture's population.

Pooled features differ far more between architectures than between the objects of one architecture, so
with one normalisation for all, the object lives in a tiny deviation from an architecture-wide offset:
embeddings of one architecture start collapsed (cosine ~1), and a contrastive loss whose pairs all straddle
two architectures gets no gradient to remove the offset (training recall stays at chance). Standardising
per architecture removes the offset by construction.

The moments come from a population: the rows standardised together (:func:`standardize_moments`, as in
training), or a reference population's moments kept for later rows (:func:`apply_moments`), so that a NeRF
embedded alone is standardised exactly as the population it belongs to (:mod:`wsrl.encoder.population`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter

FEATURE_EPS = 1e-5  # variance floor of standardised pooled features and embeddings

Moments = tuple[Tensor, Tensor]  # per group: mean [G, F] and floored variance [G, F]


def domain_groups(domain: Tensor | None, n: int, device: torch.device | None = None) -> Tensor:
    """Each row's group index ``0..G-1`` (groups in sorted order of ``domain``; default: one group)."""
    if domain is None:
        return torch.zeros(n, dtype=torch.long, device=device)
    return torch.unique(domain, return_inverse=True)[1]


def standardize_moments(
    x: Tensor, group: Tensor, eps: float = FEATURE_EPS, rel_eps: float = 0.0
) -> tuple[Tensor, Moments]:  # fmt: skip
    """Each column of ``x`` to zero mean and unit variance within each group, and the moments used. The
    variance gets ``eps + rel_eps * mean**2``: an absolute floor, and one relative to the column's scale for
    features whose natural scale is tiny (weight statistics of hash entries). The centred rows are computed once
    and feed both the variance and the output, as in batch norm (the gradient, to the last bit, depends on it)."""
    mean = scatter(x, group, dim=0, reduce="mean")
    centred = x - mean[group]
    var = scatter(centred * centred, group, dim=0, reduce="mean") + eps + rel_eps * mean * mean
    return centred / var[group].sqrt(), (mean, var)


def apply_moments(x: Tensor, moments: Moments, group: Tensor) -> Tensor:
    """``x`` standardised with stored moments (a reference population's) of each row's group."""
    mean, var = moments
    return (x - mean[group]) / var[group].sqrt()

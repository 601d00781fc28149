"""Per-population standardisation, as domain-specific batch normalisation (Chang et al., CVPR 2019)
without running statistics: the GMN readout (:mod:`wsrl.encoder`) and the weight-statistics baseline
(:mod:`wsrl.statistics`) compare NeRFs through features standardised over their architecture's population.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter


def per_domain_standardize(x: Tensor, domain: Tensor | None = None, eps: float = 1e-5, rel_eps: float = 0.0) -> Tensor:
    """Each column of ``x`` to zero mean and unit variance within each domain (rows with equal
    ``domain``; default: all rows one domain).

    Pooled features differ far more between architectures than between the objects of one
    architecture, so with one normalisation for all the object lives in a tiny deviation from an
    architecture-wide offset: embeddings of one architecture start collapsed (cosine ~1), and a
    contrastive loss whose pairs all straddle two architectures gets no gradient to remove the offset
    (measured: training recall stays at chance). Standardising per architecture removes the offset by
    construction. The statistics are those of the rows given, so embeddings are defined for a
    population, like AdaBN: a training batch, or all NeRFs of an architecture embedded together.

    The variance gets ``eps + rel_eps * mean**2`` added: an absolute floor, and one relative to the
    column's scale for features whose natural scale is tiny (weight statistics of hash entries).
    """
    if domain is None:
        domain = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    _, group = torch.unique(domain, return_inverse=True)
    mean = scatter(x, group, dim=0, reduce="mean")
    centred = x - mean[group]
    var = scatter(centred * centred, group, dim=0, reduce="mean") + eps + rel_eps * mean * mean
    return centred / var[group].sqrt()

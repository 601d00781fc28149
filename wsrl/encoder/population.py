"""Reference populations: the per-architecture moments that make an encoder's embeddings inductive.

The readout standardises per architecture (:mod:`wsrl.encoder.standardize`), so an embedding is defined
relative to a population of its architecture. Standardising each batch of NeRFs over itself would make one
NeRF alone the zero vector and two exact opposites; instead every embedding is standardised with the moments
of a fixed *reference population*:

- a trained encoder stores, for each architecture it trained on, the moments of its training split (written
  into the run checkpoint by :mod:`wsrl.train.trainer`, loaded into :attr:`GMNEncoder.norms`);
- an architecture it never saw needs a reference population named by the caller (``--reference``) of at
  least :data:`MIN_POPULATION` NeRFs.

One NeRF alone then embeds exactly as it does inside any collection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from wsrl.encoder.config import MIN_POPULATION
from wsrl.encoder.gmn import GMNEncoder, ReadoutNorms, pool_graphs
from wsrl.errors import WsrlError

Norms = dict[str, list[Tensor]]  # per architecture, the readout's six moment tensors (flattened ReadoutNorms)


def flat_norms(norms: ReadoutNorms) -> list[Tensor]:
    return [t for pair in norms for t in pair]


def _pairs(flat: Sequence[Tensor]) -> ReadoutNorms:
    return (flat[0], flat[1]), (flat[2], flat[3]), (flat[4], flat[5])


def check_population(arch: str, n: int) -> None:
    """A one-line error when ``n`` NeRFs are too few to be ``arch``'s reference population."""
    if n < MIN_POPULATION:
        raise WsrlError(
            f"architecture {arch!r}: a reference population of {n} NeRF(s) is too small to standardise "
            f"embeddings against (they would be degenerate); it needs at least {MIN_POPULATION}"
        )


@torch.no_grad()
def population_norms(encoder: GMNEncoder, arch: str, graphs: Sequence[Data]) -> list[Tensor]:
    """The readout moments of one architecture's reference population ``graphs``."""
    check_population(arch, len(graphs))
    return flat_norms(encoder.readout(pool_graphs(encoder, list(graphs)))[1])


def reference_norms(encoder: GMNEncoder, populations: Mapping[str, Sequence[Data]]) -> Norms:
    """The moments of each architecture's reference population."""
    return {arch: population_norms(encoder, arch, graphs) for arch, graphs in populations.items()}


@torch.no_grad()
def embed_with_norms(encoder: GMNEncoder, graphs: Sequence[Data], norms: Mapping[str, Sequence[Tensor]]) -> Tensor:
    """Embeddings ``[n, D]`` of ``graphs`` (any architectures, read from the graphs), each standardised with its
    architecture's stored moments: independent of which other NeRFs are embedded with it."""
    archs = [str(g.arch) for g in graphs]
    missing = sorted(set(archs) - set(norms))
    if missing:
        trained = f"trained on {list(encoder.trained_archs)}" if encoder.trained_archs else "with no stored moments"
        raise WsrlError(
            f"architecture(s) {missing}: no reference population (the encoder was {trained}); embed against one "
            f"with --reference COLLECTION holding at least {MIN_POPULATION} NeRFs of each"
        )
    z = torch.zeros(len(graphs), encoder.config.embedding)
    rows: dict[str, list[int]] = {}
    for i, arch in enumerate(archs):
        rows.setdefault(arch, []).append(i)
    for arch, idx in rows.items():
        pooled = pool_graphs(encoder, [graphs[i] for i in idx])
        z[idx] = encoder.readout(pooled, torch.zeros(len(idx), dtype=torch.long), _pairs(norms[arch]))[0]
    return z

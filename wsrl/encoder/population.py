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
def population_norms(
    encoder: GMNEncoder, arch: str, graphs: Sequence[Data], pooled: Tensor | None = None
) -> list[Tensor]:  # fmt: skip
    """The readout moments of one architecture's reference population ``graphs`` (``pooled``: their rows of
    :func:`~wsrl.encoder.gmn.pool_graphs`, when already computed)."""
    check_population(arch, len(graphs))
    return flat_norms(encoder.readout(pool_graphs(encoder, list(graphs)) if pooled is None else pooled)[1])


def reference_norms(encoder: GMNEncoder, populations: Mapping[str, Sequence[Data]]) -> Norms:
    """The moments of each architecture's reference population."""
    return {arch: population_norms(encoder, arch, graphs) for arch, graphs in populations.items()}


def rows_by_arch(archs: Sequence[str]) -> dict[str, list[int]]:
    """The row indices of each architecture, in first-seen order."""
    rows: dict[str, list[int]] = {}
    for i, arch in enumerate(archs):
        rows.setdefault(arch, []).append(i)
    return rows


def require_norms(encoder: GMNEncoder, archs: Sequence[str], norms: Mapping[str, Sequence[Tensor]]) -> None:
    """A one-line error naming the architectures of ``archs`` that ``norms`` lacks."""
    missing = sorted(set(archs) - set(norms))
    if missing:
        trained = f"trained on {list(encoder.trained_archs)}" if encoder.trained_archs else "with no stored moments"
        raise WsrlError(
            f"architecture(s) {missing}: no reference population (the encoder was {trained}); embed against one "
            f"with --reference COLLECTION holding at least {MIN_POPULATION} NeRFs of each"
        )


@torch.no_grad()
def readout_with_norms(encoder: GMNEncoder, pooled: Tensor, norms: Sequence[Tensor]) -> Tensor:
    """Embeddings of one architecture's pooled rows, standardised with its stored moments ``norms``."""
    return encoder.readout(pooled, torch.zeros(len(pooled), dtype=torch.long), _pairs(norms))[0]


@torch.no_grad()
def embed_with_norms(encoder: GMNEncoder, graphs: Sequence[Data], norms: Mapping[str, Sequence[Tensor]]) -> Tensor:
    """Embeddings ``[n, D]`` of ``graphs`` (any architectures, read from the graphs), each standardised with its
    architecture's stored moments: independent of which other NeRFs are embedded with it."""
    archs = [str(g.arch) for g in graphs]
    require_norms(encoder, archs, norms)
    z = torch.zeros(len(graphs), encoder.config.embedding)
    for arch, idx in rows_by_arch(archs).items():
        z[idx] = readout_with_norms(encoder, pool_graphs(encoder, [graphs[i] for i in idx]), norms[arch])
    return z

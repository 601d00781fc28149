"""Import and export of tiny-cuda-nn flat ``params`` vectors.

tcnn's ``NetworkWithInputEncoding`` stores one float32 vector: the MLP's weight
matrices first (row-major ``[out, in]``, padding included, first layer to last),
then the encoding's parameters (for hash grids, the level tables one after the
other, each ``[n_entries, F]`` with an entry's features contiguous). Tri-planes are
not tcnn parameters and travel beside the vector.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wsrl.errors import WsrlError
from wsrl.nerf.archs import ArchSpec


def to_tcnn_params(spec: ArchSpec, tensors: dict[str, Tensor]) -> Tensor:
    """The flat ``[network | encoding]`` vector of one NeRF (tri-plane excluded)."""
    parts = [tensors[f"mlp.{i}"].reshape(-1) for i in range(len(spec.mlp_shapes))]
    if spec.family == "hash":
        parts.append(tensors["grid"].reshape(-1))
    return torch.cat(parts).float()


def tcnn_param_count(spec: ArchSpec) -> tuple[int, int]:
    """``(network, encoding)`` element counts of the flat vector."""
    n_net = sum(o * i for o, i in spec.mlp_shapes)
    n_enc = spec.grid_entries * spec.hash_features if spec.family == "hash" else 0
    return n_net, n_enc


def split_matrices(flat: Tensor, shapes: list[tuple[int, int]], prefix: str) -> dict[str, Tensor]:
    """Consecutive row-major ``[out, in]`` matrices of a flat tcnn network vector, as ``prefix.i`` (cloned)."""
    tensors, start = {}, 0
    for i, (out, inp) in enumerate(shapes):
        tensors[f"{prefix}.{i}"] = flat[start : start + out * inp].view(out, inp).clone()
        start += out * inp
    return tensors


def from_tcnn_params(
    spec: ArchSpec, params: Tensor, planes: Tensor | None = None, source: str = "<params>"
) -> dict[str, Tensor]:
    """Split a flat tcnn vector back into named tensors (views are cloned).

    ``source`` names the file or key in error messages.
    """
    n_net, n_enc = tcnn_param_count(spec)
    if params.dim() != 1 or params.numel() != n_net + n_enc:
        raise WsrlError(
            f"{source}: tcnn params of arch {spec.name!r} must be 1-D with {n_net + n_enc} elements "
            f"({n_net} network + {n_enc} encoding), got shape {tuple(params.shape)}"
        )
    params = params.detach().float()
    tensors = split_matrices(params[:n_net], spec.mlp_shapes, "mlp")
    if spec.family == "hash":
        tensors["grid"] = params[n_net:].view(spec.grid_entries, spec.hash_features).clone()
    if spec.family == "triplane":
        expected = spec.tensor_shapes["planes"]
        if planes is None or tuple(planes.shape) != expected:
            got = None if planes is None else tuple(planes.shape)
            raise WsrlError(f"{source}: tri-plane of arch {spec.name!r} must have shape {expected}, got {got}")
        tensors["planes"] = planes.detach().float().clone()
    return tensors

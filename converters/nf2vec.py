"""The nf2vec / gmnerf layout (docs/formats.md §3): ``<root>/<arch>/<class>/<id>/nerf_weights.pth``.

``nerf_weights.pth`` is a state dict of flat tiny-cuda-nn vectors: ``mlp_base.params``
(``[network | frequency encoding (0)]`` for MLPs, the network alone for hash
fields), ``encoding.params`` (the hash grid) and ``triplane`` ``[3, R, R, C]``.
The architecture is not stored: it is the folder name when that is a registered
architecture, otherwise the unique registered spec whose tcnn sizes match.
Split files ``<root>/{train,val,test}.txt`` (beside the ``<arch>`` folders, as gmnerf
reads ``<arch root>/../<split>.txt``) list ``<class>/<id>`` lines; a NeRF found in one
gets ``meta["split"]``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor
from wsrl.converters.checks import ConversionError, get_tensor

from wsrl.classes import class_label
from wsrl.nerf.archs import SCALES, ArchSpec, get_arch, list_archs, registrations
from wsrl.nerf.checkpoint import NeRF
from wsrl.nerf.fields.tcnn import from_tcnn_params, tcnn_param_count

WEIGHTS_FILE = "nerf_weights.pth"
SPLITS = ("train", "val", "test")


def is_nf2vec(state: object) -> bool:
    return isinstance(state, dict) and "mlp_base.params" in state


def _candidates(state: dict) -> tuple[ArchSpec, ...]:
    """Registered specs whose tcnn sizes match the tensors."""
    enc, planes = state.get("encoding.params"), state.get("triplane")
    n_enc = enc.numel() if isinstance(enc, Tensor) else 0
    plane_shape = tuple(planes.shape) if isinstance(planes, Tensor) else None if planes is None else ()
    return _specs_of_sizes(state["mlp_base.params"].numel(), n_enc, plane_shape, registrations())


@lru_cache(maxsize=256)
def _specs_of_sizes(n_net: int, n_enc: int, planes: tuple[int, ...] | None, _registry: int) -> tuple[ArchSpec, ...]:
    """Registered specs of these tcnn sizes (``planes``: the tri-plane's shape, None without one, () when the entry
    is not a tensor); one scan of the registry per distinct size and registry state, not per file. A tuple: the
    cached answer is shared by every caller."""
    out = []
    for scale in SCALES:
        for name in list_archs(scale):
            spec = get_arch(name, scale)
            net, grid = tcnn_param_count(spec)
            if spec.family == "triplane":
                ok = planes == spec.tensor_shapes["planes"] and net == n_net
            elif spec.family == "hash":
                ok = planes is None and net == n_net and grid == n_enc
            else:
                ok = planes is None and n_enc == 0 and net == n_net
            if ok:
                out.append(spec)
    return tuple(out)


def _arch_from_path(path: Path) -> str | None:
    """The ``<arch>`` folder of ``<arch>/<class>/<id>/nerf_weights.pth``, if present."""
    parts = path.parts
    return parts[-4] if len(parts) >= 4 else None


def _spec_by_name(name: str, state: dict, source: str) -> ArchSpec:
    """The registered ``name`` at the scale whose network size matches ``mlp_base.params``."""
    n_net = get_tensor(source, state, "mlp_base.params").numel()
    specs = {scale: get_arch(name, scale) for scale in SCALES if name in list_archs(scale)}
    for spec in specs.values():
        if tcnn_param_count(spec)[0] == n_net:
            return spec
    expected = " or ".join(f"{tcnn_param_count(s)[0]} ({scale})" for scale, s in specs.items())
    raise ConversionError(f"{source}: tensor 'mlp_base.params' has {n_net} elements, arch {name!r} expects {expected}")


def read_nf2vec(state: dict, source: str, arch: str | None = None) -> NeRF:
    """An nf2vec/gmnerf state dict as a NeRF; ``arch`` forces the architecture name."""
    path = Path(source)
    folder_arch = _arch_from_path(path)
    if arch is not None:
        if arch not in list_archs("mini") + list_archs("paper"):
            raise ConversionError(f"{source}: unknown architecture {arch!r} (see `wsrl archs`)")
        spec = _spec_by_name(arch, state, source)
    else:
        if not isinstance(state.get("mlp_base.params"), Tensor):
            get_tensor(source, state, "mlp_base.params")  # the one-line error for a missing tensor
        candidates = _candidates(state)
        by_folder = [s for s in candidates if s.name == folder_arch]
        if by_folder:
            spec = by_folder[0]
        elif len({(s.family, s.activation, tuple(s.mlp_shapes)) for s in candidates}) == 1:
            spec = candidates[0]
        else:
            names = sorted({f"{s.name}@{s.scale}" for s in candidates}) or ["none"]
            raise ConversionError(
                f"{source}: cannot tell the architecture from tensor sizes (matches: {', '.join(names)}); pass --arch"
            )
    n_net, n_enc = tcnn_param_count(spec)
    flat = get_tensor(source, state, "mlp_base.params", (n_net,))
    if spec.family == "hash":
        flat = torch.cat([flat, get_tensor(source, state, "encoding.params", (n_enc,))])
    planes = get_tensor(source, state, "triplane", spec.tensor_shapes["planes"]) if spec.family == "triplane" else None
    tensors = from_tcnn_params(spec, flat, planes, source=source)
    meta = {"source": source, "format": "nf2vec"}
    if len(path.parts) >= 3:
        meta["object_id"] = f"{path.parts[-3]}/{path.parts[-2]}"
        meta["class_label"] = class_label(path.parts[-3])
        if len(path.parts) >= 5:
            split = _splits(str(path.parents[3])).get(meta["object_id"])
            if split:
                meta["split"] = split
    return NeRF(spec, tensors, meta)


@lru_cache(maxsize=64)
def _splits(root: str) -> dict[str, str]:
    """``<class>/<id>`` -> split name, from the split files under ``root`` (empty if none)."""
    return {
        entry: split for split in SPLITS if (Path(root) / f"{split}.txt").exists() for entry in read_split(root, split)
    }


def read_split(root: str | Path, split: str) -> list[str]:
    """``<class>/<id>`` entries of a gmnerf split file (``train``, ``val`` or ``test``)."""
    path = Path(root) / f"{split}.txt"
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]

"""The NeRF object every reader returns and every tool consumes: spec + named tensors.

wsrl checkpoints are plain dicts of strings, numbers, lists and tensors, so they
load with ``torch.load(weights_only=True)``::

    {"format": "wsrl.nerf", "version": 1, "spec": {...ArchSpec...},
     "tensors": {"mlp.0": ..., "grid" | "planes": ...}, "meta": {...}}
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from wsrl.errors import WsrlError
from wsrl.files import envelope, load_torch, open_envelope, save_torch
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.fields.field import RadianceField

FORMAT = "wsrl.nerf"
VERSION = 1
MAX_ABS_VALUE = 1e4
"""Largest parameter magnitude a checkpoint may hold. Trained NeRFs stay within a few units (at most 3.4 over the
``mini`` zoo and nerfstudio's own runs); past this, squares in the graph statistics overflow float32 and the
field's outputs are meaningless, so such a file is refused at load instead of embedding as NaN."""


def check_values(source: str, name: str, t: Tensor) -> Tensor:
    """``t`` as float32 if it is a real floating-point tensor of finite values within :data:`MAX_ABS_VALUE`;
    otherwise a one-line error naming ``source`` and the tensor."""
    if not t.is_floating_point():
        raise WsrlError(f"{source}: tensor {name!r} has dtype {t.dtype}, expected floating point")
    t = t.float()
    low, high = (float(v) for v in torch.aminmax(t)) if t.numel() else (0.0, 0.0)  # one pass; NaN propagates
    if not (math.isfinite(low) and math.isfinite(high)):
        raise WsrlError(f"{source}: tensor {name!r} contains NaN or Inf")
    peak = max(-low, high)
    if peak > MAX_ABS_VALUE:
        raise WsrlError(
            f"{source}: tensor {name!r} holds a value of magnitude {peak:.3g}, expected at most {MAX_ABS_VALUE:g}"
        )
    return t


@dataclass
class NeRF:
    """One NeRF: its architecture, its unbatched tensors and free-form metadata
    (``object_id``, ``class_label``, ``psnr``, ``source``...)."""

    spec: ArchSpec
    tensors: dict[str, Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def field(self) -> RadianceField:
        """A batch-of-one field evaluating this NeRF."""
        return stack_fields([self])


def stack_fields(nerfs: Sequence[NeRF]) -> RadianceField:
    """One batched field over NeRFs of a single architecture."""
    specs = {n.spec for n in nerfs}
    if len(specs) != 1:
        raise WsrlError(f"cannot batch NeRFs of different architectures: {sorted(s.name for s in specs)}")
    spec = nerfs[0].spec
    return RadianceField(spec, {k: torch.stack([n.tensors[k] for n in nerfs]) for k in spec.tensor_shapes})


def unstack_field(field_: RadianceField, metas: Sequence[dict[str, Any]] | None = None) -> list[NeRF]:
    """Split a batched field into independent NeRFs (tensors copied, detached)."""
    tensors = {k: v.detach().clone() for k, v in field_.named_tensors().items()}
    metas = metas or [{} for _ in range(field_.batch_size)]
    return [NeRF(field_.spec, {k: v[b] for k, v in tensors.items()}, dict(metas[b])) for b in range(field_.batch_size)]


def save_nerf(path: str | os.PathLike, nerf: NeRF) -> Path:
    """Write a wsrl checkpoint atomically."""
    payload = envelope(FORMAT, VERSION, {
        "spec": nerf.spec.to_dict(),
        "tensors": {
            k: v.detach().cpu().clone() for k, v in nerf.tensors.items()
        },  # clone: a view would save its whole batch
        "meta": nerf.meta,
    })  # fmt: skip
    return save_torch(path, payload)


def nerf_from_payload(payload: Any, source: str) -> NeRF:
    """Validate a loaded wsrl checkpoint dict; errors name ``source`` and the tensor."""
    open_envelope(payload, FORMAT, VERSION, source, "wsrl NeRF checkpoint")
    try:
        spec = ArchSpec.from_dict(payload["spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WsrlError(f"{source}: bad architecture spec: {exc}") from None
    tensors = payload.get("tensors")
    if not isinstance(tensors, dict):
        raise WsrlError(f"{source}: missing 'tensors' dict")
    for name, shape in spec.tensor_shapes.items():
        t = tensors.get(name)
        if not isinstance(t, Tensor):
            raise WsrlError(f"{source}: tensor {name!r} missing (arch {spec.name!r} expects shape {shape})")
        if tuple(t.shape) != shape:
            raise WsrlError(f"{source}: tensor {name!r} has shape {tuple(t.shape)}, expected {shape}")
        check_values(source, name, t)
    extra = set(tensors) - set(spec.tensor_shapes)
    if extra:
        raise WsrlError(f"{source}: unexpected tensors {sorted(extra)} for arch {spec.name!r}")
    meta = {} if payload.get("meta") is None else payload["meta"]
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise WsrlError(f"{source}: entry 'meta' must be a mapping of names to values, got {type(meta).__name__}")
    return NeRF(spec, {k: tensors[k].float() for k in spec.tensor_shapes}, dict(meta))


def load_nerf(path: str | os.PathLike) -> NeRF:
    """Read a wsrl checkpoint (never unpickles code: ``weights_only=True``)."""
    return nerf_from_payload(load_torch(path, "wsrl NeRF checkpoint"), str(path))

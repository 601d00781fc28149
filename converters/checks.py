"""Safe loading and validation shared by every reader.

Every error is a :class:`ConversionError` whose message names the file, the
tensor and what was expected, on one line.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from wsrl.errors import WsrlError
from wsrl.files import load_failure
from wsrl.nerf.archs import SCALES, list_archs
from wsrl.nerf.checkpoint import check_values


class ConversionError(WsrlError):
    """A checkpoint that cannot become a NeRF; the message names file, tensor and expectation."""


def load_weights(path: str | os.PathLike) -> Any:
    """``torch.load(weights_only=True, map_location="cpu")``: never executes pickled code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except Exception as exc:  # corrupt, truncated, non-torch or code-carrying pickles
        raise ConversionError(f"{path}: not a weights-only torch checkpoint ({load_failure(exc)})") from None


def get_tensor(source: str, state: dict, key: str, shape: tuple[int, ...] | None = None) -> Tensor:
    """``state[key]`` as a float32 tensor that passes :func:`~wsrl.nerf.checkpoint.check_values`, optionally of an
    exact ``shape``."""
    t = state.get(key)
    if not isinstance(t, Tensor):
        expected = f" of shape {shape}" if shape is not None else ""
        raise ConversionError(f"{source}: tensor {key!r} missing (expected a tensor{expected})")
    if t.is_sparse:
        t = t.to_dense()
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ConversionError(f"{source}: tensor {key!r} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    try:
        return check_values(source, key, t)
    except WsrlError as exc:
        raise ConversionError(str(exc)) from None


def layout_name(arch: str | None, default: str, source: str) -> str:
    """The architecture name of a layout the file itself defines (nerfstudio, ``Sequential``): ``--arch`` if given,
    else ``default``. A registered name is refused: the encoder would standardise this layout with that
    architecture's stored moments."""
    if arch is not None and any(arch in list_archs(scale) for scale in SCALES):
        raise ConversionError(
            f"{source}: --arch {arch!r} is a registered architecture, and this file defines a layout of its own; "
            "give it another name"
        )
    return arch or default

"""Checkpoint readers (installed as ``wsrl.converters``): every source format becomes a
:class:`wsrl.nerf.NeRF`.

Formats, detected by content (``fmt`` forces one):

* ``wsrl``: wsrl's own checkpoints (``format == "wsrl.nerf"``);
* ``nf2vec``: nf2vec/gmnerf ``nerf_weights.pth`` state dicts, or their folders;
* ``nerfstudio``: nerfacto / instant-ngp ``.ckpt`` files (tiny-cuda-nn implementation);
* ``sequential``: state dicts of a plain ``nn.Sequential`` MLP (``read_module`` for a live module).

Every user file is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wsrl.converters.checks import ConversionError, load_weights
from wsrl.converters.nerfstudio import is_nerfstudio, read_nerfstudio
from wsrl.converters.nf2vec import WEIGHTS_FILE, is_nf2vec, read_nf2vec
from wsrl.converters.sequential import is_sequential_state, read_module, read_sequential_state

from wsrl.errors import WsrlError
from wsrl.nerf.checkpoint import FORMAT, NeRF, nerf_from_payload
from wsrl.registry import Registry


@dataclass(frozen=True)
class Format:
    """A checkpoint format: how to recognise a loaded payload and how to read it as a NeRF."""

    detect: Callable[[object], bool]
    read: Callable[[object, str, str | None], NeRF]


def _is_wsrl(payload: object) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def _read_wsrl(payload: object, source: str, arch: str | None) -> NeRF:
    try:
        nerf = nerf_from_payload(payload, source)
    except WsrlError as exc:
        raise ConversionError(str(exc)) from None
    if arch is not None and nerf.spec.name != arch:
        raise ConversionError(f"{source}: checkpoint holds architecture {nerf.spec.name!r}, --arch says {arch!r}")
    return nerf


# detection tries formats in registration order; adding a format is one ``FORMATS.register`` here
FORMATS: Registry[Format] = Registry("checkpoint format")
FORMATS.register("wsrl", Format(_is_wsrl, _read_wsrl))
FORMATS.register("nf2vec", Format(is_nf2vec, read_nf2vec))  # type: ignore[arg-type]
FORMATS.register("nerfstudio", Format(is_nerfstudio, read_nerfstudio))  # type: ignore[arg-type]
FORMATS.register("sequential", Format(is_sequential_state, read_sequential_state))  # type: ignore[arg-type]


def detect_format(payload: object) -> str | None:
    """The format of a loaded checkpoint, or None."""
    return next((name for name, fmt in FORMATS.items() if fmt.detect(payload)), None)


def read_checkpoint(path: str | os.PathLike, fmt: str | None = None, arch: str | None = None) -> NeRF:
    """Read any supported checkpoint file (or nf2vec folder) as a NeRF."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    payload = load_weights(path)
    found = fmt or detect_format(payload)
    if found is None:
        keys = sorted(payload)[:5] if isinstance(payload, dict) else type(payload).__name__
        raise ConversionError(
            f"{path}: unrecognised checkpoint (top-level keys {keys}); expected one of {FORMATS.names()}"
        )
    if found not in FORMATS:
        raise ConversionError(f"{path}: unknown format {found!r}; expected one of {FORMATS.names()}")
    nerf = FORMATS.get(found).read(payload, str(path), arch)
    nerf.meta["source"] = str(path)  # where this NeRF was read from (search results render it from there)
    return nerf


def find_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Checkpoint files under ``root`` (or ``root`` itself), sorted: ``*.pt``, ``*.pth``, ``*.ckpt``."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".pt", ".pth", ".ckpt"))


__all__ = ["ConversionError", "FORMATS", "detect_format", "find_checkpoints", "read_checkpoint", "read_module"]

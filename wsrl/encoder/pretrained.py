"""Pretrained encoders in the Hugging Face folder layout, and the ones shipped with wsrl, loaded by name.

A pretrained folder holds ``config.json`` (``{"format": "wsrl.encoder", "version": 1, "encoder_config",
"trained_archs", ...}``), ``model.safetensors`` (the encoder's state dict, and each trained architecture's six
readout moments as ``norms/<arch>/<i>``) and ``README.md`` (the model card). Nothing in it is a pickle, so the
folder can be pushed to the Hub unchanged and read from anyone. The encoders wsrl ships live in
``wsrl/encoder/weights/<name>/``; :func:`pretrained_names` lists them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from torch import Tensor

from wsrl.encoder.gmn import EncoderConfig, GMNEncoder
from wsrl.errors import WsrlError
from wsrl.files import load_json, save_json, save_text

FORMAT, VERSION = "wsrl.encoder", 1
CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
SHIPPED = Path(__file__).parent / "weights"
NORMS_PREFIX = "norms/"
N_MOMENTS = 6


def pretrained_names() -> list[str]:
    """Names of the encoders shipped with wsrl (``wsrl.load_encoder(name)``, ``--ckpt name``)."""
    return sorted(p.name for p in SHIPPED.iterdir() if (p / CONFIG).exists()) if SHIPPED.exists() else []


def pretrained_folder(source: str | os.PathLike) -> Path | None:
    """The pretrained folder ``source`` names (a shipped name, or a folder with ``model.safetensors``; a training
    run's folder has a ``config.json`` too, but no safetensors), else None."""
    if str(source) in pretrained_names():
        return SHIPPED / str(source)
    path = Path(source)
    return path if (path / WEIGHTS).exists() else None


def save_pretrained(encoder: GMNEncoder, folder: str | os.PathLike, card: str, extra: dict | None = None) -> Path:
    """Write ``encoder`` (with its ``norms`` and ``trained_archs``) as a pretrained folder; the folder appears
    whole or not at all (written beside it, then renamed)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    norms = getattr(encoder, "norms", None) or {}
    if not norms:
        raise WsrlError(f"{folder}: an encoder without readout moments ('norms') cannot embed one NeRF alone")
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    for arch, moments in norms.items():
        tensors.update({f"{NORMS_PREFIX}{arch}/{i}": t.detach().contiguous() for i, t in enumerate(moments)})
    save_file(tensors, str(tmp / WEIGHTS))
    config = {"format": FORMAT, "version": VERSION, "encoder_config": encoder.config.to_dict(),
              "trained_archs": list(getattr(encoder, "trained_archs", ())), **(extra or {})}  # fmt: skip
    save_json(tmp / CONFIG, config)
    save_text(tmp / CARD, card)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def load_pretrained(folder: str | os.PathLike) -> GMNEncoder:
    """The encoder of a pretrained folder, in eval mode, with ``trained_archs`` and ``norms``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config = load_json(folder / CONFIG, "pretrained encoder config")
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("version") != VERSION:
        expected = f"format={FORMAT!r}, version {VERSION}"
        raise WsrlError(f"{folder / CONFIG}: not a wsrl pretrained encoder (expected {expected})")
    try:
        tensors = load_file(str(folder / WEIGHTS))
    except (OSError, SafetensorError) as exc:
        raise WsrlError(f"{folder / WEIGHTS}: unreadable safetensors file ({exc})") from None
    norms: dict[str, list[Tensor]] = {}
    for key in sorted(k for k in tensors if k.startswith(NORMS_PREFIX)):
        arch, i = key[len(NORMS_PREFIX) :].rsplit("/", 1)
        norms.setdefault(arch, [None] * N_MOMENTS)[int(i)] = tensors.pop(key)  # type: ignore[list-item]
    try:
        encoder = GMNEncoder(EncoderConfig(**config["encoder_config"]))
        encoder.load_state_dict(tensors)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise WsrlError(f"{folder}: weights do not fit the encoder config ({type(exc).__name__}: {exc})") from None
    if not norms or any(t is None for moments in norms.values() for t in moments):
        raise WsrlError(f"{folder / WEIGHTS}: every trained architecture needs {N_MOMENTS} tensors 'norms/<arch>/<i>'")
    encoder.trained_archs = tuple(config.get("trained_archs", ()))
    encoder.norms = norms
    return encoder.eval()

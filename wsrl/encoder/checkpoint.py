"""Encoder checkpoints: the trained GMN of a training run, loaded for embedding.

A run checkpoint (``RUN/best.pt`` or ``RUN/last.pt``, written by :mod:`wsrl.train.trainer`) is a weights-only
dict ``{"format": "wsrl.run", "version": 1, "config": TrainConfig, "encoder_config", "decoder_config",
"model": state dict (encoder under ``encoder.``), "optimizer", "scheduler", "epoch", "best_val", "norms"}``.
Embedding needs the encoder's config and weights, the architectures the run trained on (``config["archs"]``):
which architectures an encoder has *seen* is a property of its run; and ``norms``, per trained architecture
the readout moments of its training split (:mod:`wsrl.encoder.population`), which ``best.pt`` always holds and
``last.pt`` holds at the end of a run (runs of wsrl 0.2.0 have none: embed them with a reference population).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor

from wsrl.encoder.gmn import EncoderConfig, GMNEncoder
from wsrl.encoder.pretrained import CONFIG, load_pretrained, pretrained_folder, pretrained_names
from wsrl.errors import WsrlError
from wsrl.files import load_envelope, load_json

RUN_FORMAT, RUN_VERSION = "wsrl.run", 1
BEST, LAST = "best.pt", "last.pt"
ENCODER_PREFIX = "encoder."


def load_run(path: str | os.PathLike) -> dict:
    """A run checkpoint (``last.pt``/``best.pt``, or a run folder: its ``best.pt``), weights-only."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    return load_envelope(path, RUN_FORMAT, RUN_VERSION, "wsrl training checkpoint")


def load_encoder(source: str | os.PathLike) -> GMNEncoder:
    """A trained encoder in eval mode, with the architectures it trained on in ``trained_archs`` and their
    readout moments in ``norms``: a shipped pretrained name (``"wsrl-mini"``), a pretrained folder (Hugging Face
    layout, :mod:`wsrl.encoder.pretrained`), or a training run (its folder or a checkpoint file)."""
    folder = pretrained_folder(source)
    if folder is not None:
        return _checked(load_pretrained(folder), folder)
    payload = load_run(source)
    try:
        encoder = GMNEncoder(EncoderConfig(**payload["encoder_config"]))
        state = {k[len(ENCODER_PREFIX) :]: v for k, v in payload["model"].items() if k.startswith(ENCODER_PREFIX)}
        encoder.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise WsrlError(f"{source}: training checkpoint without a usable encoder ({reason})") from None
    encoder.trained_archs = tuple((payload.get("config") or {}).get("archs", ()))
    encoder.norms = payload.get("norms") or {}
    return _checked(encoder, source).eval()


def _checked(encoder: GMNEncoder, source: str | os.PathLike) -> GMNEncoder:
    norms, width = encoder.norms, encoder.config.embedding
    if not isinstance(norms, dict) or not all(
        isinstance(v, list) and len(v) == 6 and all(isinstance(t, Tensor) for t in v) and v[4].shape[-1] == width
        for v in norms.values()
    ):
        raise WsrlError(f"{source}: 'norms' must map architectures to the readout's 6 moment tensors")
    return encoder


def encoder_ref(source: str | os.PathLike) -> str:
    """How stores and indices record an encoder so that :func:`load_encoder` finds it again: a shipped name as
    is, anything else as an absolute path."""
    return str(source) if str(source) in pretrained_names() else str(Path(source).resolve())


def is_encoder(source: str | os.PathLike) -> bool:
    """Whether ``source`` names an encoder on this machine (shipped name, pretrained folder, run)."""
    return bool(source) and (pretrained_folder(source) is not None or Path(source).exists())


def training_seed(source: str | os.PathLike) -> int | None:
    """The seed of the zoo a pretrained encoder trained on, as its card records it (None if unknown)."""
    folder = pretrained_folder(source)
    card = load_json(folder / CONFIG, "pretrained encoder config").get("card", {}) if folder else {}
    return card.get("data_seed")

"""Encoder checkpoints: the trained GMN of a training run, loaded for embedding.

A run checkpoint (``RUN/best.pt`` or ``RUN/last.pt``, written by :mod:`wsrl.train.trainer`) is a weights-only
dict ``{"format": "wsrl.run", "version": 1, "config": TrainConfig, "encoder_config", "decoder_config",
"model": state dict (encoder under ``encoder.``), "optimizer", "scheduler", "epoch", "best_val"}``. Embedding
needs only the encoder's config and weights, and the architectures the run trained on (``config["archs"]``):
which architectures an encoder has *seen* is a property of its run.
"""

from __future__ import annotations

import os
from pathlib import Path

from wsrl.encoder.gmn import EncoderConfig, GMNEncoder
from wsrl.errors import WsrlError
from wsrl.files import load_envelope

RUN_FORMAT, RUN_VERSION = "wsrl.run", 1
BEST, LAST = "best.pt", "last.pt"
ENCODER_PREFIX = "encoder."


def load_run(path: str | os.PathLike) -> dict:
    """A run checkpoint (``last.pt``/``best.pt``, or a run folder: its ``best.pt``), weights-only."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST
    return load_envelope(path, RUN_FORMAT, RUN_VERSION, "wsrl training checkpoint")


def load_encoder(path: str | os.PathLike) -> GMNEncoder:
    """The trained encoder of a run (a run folder or checkpoint file), in eval mode, with the architectures
    it trained on in ``trained_archs``."""
    payload = load_run(path)
    try:
        encoder = GMNEncoder(EncoderConfig(**payload["encoder_config"]))
        state = {k[len(ENCODER_PREFIX) :]: v for k, v in payload["model"].items() if k.startswith(ENCODER_PREFIX)}
        encoder.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise WsrlError(f"{path}: training checkpoint without a usable encoder ({type(exc).__name__}: {exc})") from None
    encoder.trained_archs = tuple((payload.get("config") or {}).get("archs", ()))
    return encoder.eval()

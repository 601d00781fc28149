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
    norms = payload.get("norms") or {}
    width = encoder.config.embedding
    if not isinstance(norms, dict) or not all(
        isinstance(v, list) and len(v) == 6 and all(isinstance(t, Tensor) for t in v) and v[4].shape[-1] == width
        for v in norms.values()
    ):
        raise WsrlError(f"{path}: 'norms' must map architectures to the readout's 6 moment tensors")
    encoder.norms = norms
    return encoder.eval()

"""Training settings: :class:`TrainConfig` and the losses it can train (no torch import, so the CLI reads its
defaults cheaply)."""

from __future__ import annotations

from dataclasses import dataclass

from wsrl.errors import WsrlError
from wsrl.nerf.archs import BENCHMARK_SEEN

LOSSES = ("rec", "con", "rec+con")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """What a training run does; written to ``RUN/config.json`` and into every run checkpoint."""

    loss: str = "rec+con"
    preset: str = "mini"  # encoder / decoder size preset (ENCODER_PRESETS, DECODER_PRESETS)
    epochs: int = 30
    pairs_per_batch: int = 12  # 8 graphs of each seen architecture per batch (standardised per architecture)
    lr: float = 3e-3  # one-cycle peak
    weight_decay: float = 1e-2
    con_weight: float = 0.02  # rec+con = rec + con_weight * con
    rays: int = 128  # ray-bank rays per NeRF per step (rec)
    samples: int = 32  # samples per ray (rec)
    # SigLIP compares a learned projection of the embeddings (SimCLR's head, Chen et al. 2020); benchmarks and the
    # decoder read the embeddings themselves, which keep more than the contrastive task needs
    projector: bool = True
    # training graphs' parameter values are multiplied by 1 + value_noise * N(0, 1): a weight-space augmentation
    # (Shamsian et al. 2024) against memorising few objects; validation and embedding see clean values
    value_noise: float = 0.2
    # the encoder's nodes carry their signals at node_probes³ world points (EncoderConfig.node_probes; 0: off), and
    # the readout pools the output nodes apart (EncoderConfig.output_readout): chosen on the demo zoo's val split
    node_probes: int = 6
    output_readout: bool = True
    seed: int = 0
    archs: tuple[str, ...] = BENCHMARK_SEEN  # the seen architectures: pairs are drawn from these

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise WsrlError(f"loss must be one of {LOSSES}, got {self.loss!r}")

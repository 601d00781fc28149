"""Encoder sizes: :class:`EncoderConfig` and the named presets (no torch import, so the CLI reads them cheaply)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    """Width of node/edge states, number of blocks, embedding size."""

    width: int = 64
    depth: int = 3
    embedding: int = 256
    statistics: bool = True  # weight statistics of the graph enter the readout beside the pooled edges
    # nodes carry what they emit at node_probes³ fixed world points (wsrl.graph.probe.node_probe_features); 0: off
    node_probes: int = 0
    output_readout: bool = False  # the readout pools the output nodes' states apart from the edges'

    def to_dict(self) -> dict:
        return asdict(self)


# the fewest NeRFs of one architecture whose moments may standardise it (:mod:`wsrl.encoder.population`): with
# 1 row every embedding is 0, with 2 the two are exact opposites; 8 is a choice (a reference should be far larger)
MIN_POPULATION = 8

ENCODER_PRESETS = {
    "mini": EncoderConfig(width=32, depth=3, embedding=128),
    "paper": EncoderConfig(width=128, depth=4, embedding=1024),
}

"""Checkpoint readers (installed as ``wsrl.converters``): each source format becomes a
:class:`wsrl.nerf.NeRF`. wsrl's own checkpoints are read by :func:`wsrl.nerf.load_nerf`."""

from wsrl.nerf import load_nerf

__all__ = ["load_nerf"]

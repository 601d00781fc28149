"""tiny-cuda-nn parameter layouts, computed from numbers alone.

These functions reproduce how tiny-cuda-nn sizes its flat ``params`` vector
(docs/formats.md §1.2, §1.3) so that fields, converters and the registry agree on
every shape without importing tinycudann:

* an MLP of ``hidden_layers`` hidden layers has ``hidden_layers + 1`` weight
  matrices, row-major ``[out, in]``, no biases, with input and output widths
  rounded up to the padding multiple (16, or 8 for pre-2022-09 CutlassMLP);
* a multi-resolution grid has one table per level, ``next_multiple(R**3, 8)``
  entries for dense levels and ``2**T`` for hashed ones, sizes computed in
  float32 exactly as the CUDA code does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsrl.errors import WsrlError


def next_multiple(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is ``>= value``."""
    return -(-value // multiple) * multiple


def mlp_matrix_shapes(n_in: int, width: int, hidden_layers: int, n_out: int, align: int = 16) -> list[tuple[int, int]]:
    """Shapes ``[out, in]`` of a tcnn MLP's weight matrices, padding included."""
    in_pad = next_multiple(n_in, align)
    out_pad = next_multiple(n_out, align)
    if hidden_layers == 0:
        return [(out_pad, in_pad)]
    shapes = [(width, in_pad)]
    shapes += [(width, width)] * (hidden_layers - 1)
    shapes.append((out_pad, width))
    return shapes


@dataclass(frozen=True)
class GridLevel:
    """One level of a tcnn grid encoding."""

    scale: float  # float32 ``N_min * b**l - 1``
    resolution: int  # vertices per axis, ``ceil(scale) + 1``
    n_entries: int  # rows of this level's table
    offset: int  # first row of this level in the concatenated table
    hashed: bool  # True when the level uses the spatial hash
    pos_offset: float = 0.5  # lookup at ``x * scale + pos_offset`` (tcnn 0.5, nerfstudio's torch grid 0)


def grid_levels(
    n_levels: int,
    base_resolution: int,
    per_level_scale: float,
    log2_hashmap_size: int,
    n_dims: int = 3,
    flavour: str = "tcnn",
) -> list[GridLevel]:
    """Per-level sizes of a multi-resolution hash grid.

    ``tcnn``: float32 scales ``N_min * b**l - 1``, dense tables rounded to 8, hashed ones
    capped at ``2**T``, lookup offset 0.5 (docs/formats.md §1.3). ``nerfstudio_torch``
    (nerfstudio's ``implementation="torch"``): scale ``floor(N_min * b**l)``, every level
    hashed into its own ``2**T`` rows, no offset.
    """
    f32 = np.float32
    cap = 1 << log2_hashmap_size
    if flavour == "nerfstudio_torch":
        # nerfstudio evaluates ``floor(min_res * growth ** torch.arange(L))``: a float32 power
        powers = np.power(f32(per_level_scale), np.arange(n_levels, dtype=f32))
        scales = np.floor(f32(base_resolution) * powers)
        return [GridLevel(float(sc), int(sc) + 1, cap, level * cap, True, 0.0) for level, sc in enumerate(scales)]
    if flavour != "tcnn":
        raise WsrlError(f"unknown grid flavour {flavour!r} (expected 'tcnn' or 'nerfstudio_torch')")
    log2_b = np.log2(f32(per_level_scale), dtype=f32)
    levels = []
    offset = 0
    for level in range(n_levels):
        scale = f32(np.exp2(f32(level) * log2_b, dtype=f32) * f32(base_resolution) - f32(1.0))
        resolution = int(np.ceil(scale)) + 1
        n_entries = min(next_multiple(resolution**n_dims, 8), cap)
        levels.append(GridLevel(float(scale), resolution, n_entries, offset, n_entries < resolution**n_dims))
        offset += n_entries
    return levels


def per_level_scale(base_resolution: int, max_resolution: int, n_levels: int) -> float:
    """nerfstudio's growth factor ``exp((log max - log min) / (L - 1))`` (float64, as nerfstudio passes it)."""
    if n_levels == 1:
        return 1.0
    return float(np.exp((np.log(max_resolution) - np.log(base_resolution)) / (n_levels - 1)))

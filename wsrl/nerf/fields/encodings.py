"""Input encodings of the three NeRF families, batched over many NeRFs.

All functions take positions normalised to the unit cube, ``x01`` of shape
``[B, N, 3]`` (B NeRFs, N points each), and per-NeRF parameters with a leading
batch dimension, and return features ``[B, N, C]`` in tiny-cuda-nn's order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from wsrl.errors import WsrlError
from wsrl.nerf.layout import GridLevel

# tiny-cuda-nn's CoherentPrime hash primes (docs/formats.md §1.3)
HASH_PRIMES = (1, 2654435761, 805459861)
# tri-plane coordinate pairs as nf2vec samples them: (x, y), (x, z), (y, z)
PLANE_AXES = ((0, 1), (0, 2), (1, 2))
# per-output signs of the real SH basis (l = 0..3): tcnn negates the odd-m terms, nerfstudio's torch code does not
SH_SIGNS = {"tcnn": (1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1), "nerfstudio_torch": (1,) * 16}


def frequency_encode(x01: Tensor, n_frequencies: int) -> Tensor:
    """tcnn ``Frequency``: ``[sin(pi x0), cos(pi x0), sin(2 pi x0), ..., sin(pi x1), ...]``.

    Grouped by input dimension, then by frequency ``pi * 2**k``, sin/cos interleaved;
    no raw-input term. Like tcnn, cosines are ``sin(phase + pi/2)``: one transcendental call.
    """
    freqs = math.pi * 2.0 ** torch.arange(n_frequencies, dtype=x01.dtype, device=x01.device)
    shift = torch.tensor([0.0, 0.5 * math.pi], dtype=x01.dtype, device=x01.device)
    phase = (x01[..., :, None] * freqs)[..., None] + shift  # [..., D, F, 2]
    return torch.sin(phase).flatten(-3)


def spherical_harmonics(d01: Tensor, degree: int, convention: str = "tcnn") -> Tensor:
    """Real spherical harmonics (degree <= 4, ``degree**2`` outputs) of directions given in [0, 1]^3.

    ``tcnn``: tiny-cuda-nn's ``SphericalHarmonics``, which maps its input by ``x * 2 - 1`` and flips the sign
    of every odd-``m`` term, e.g. ``Y1 = (-0.4886 y, 0.4886 z, -0.4886 x)``. ``nerfstudio_torch``: nerfstudio's
    torch ``SHEncoding``, which evaluates the same polynomials on the [0, 1] input as is, all signs positive.
    """
    if not 1 <= degree <= 4:
        raise WsrlError(f"spherical harmonics degree must be 1..4, got {degree}")
    if convention not in SH_SIGNS:
        raise WsrlError(f"unknown spherical-harmonics convention {convention!r}; expected one of {sorted(SH_SIGNS)}")
    x, y, z = (d01 * 2.0 - 1.0 if convention == "tcnn" else d01).unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    out = [torch.full_like(x, 0.28209479177387814)]
    if degree > 1:
        out += [0.48860251190291987 * y, 0.48860251190291987 * z, 0.48860251190291987 * x]
    if degree > 2:
        out += [
            1.0925484305920792 * x * y, 1.0925484305920792 * y * z, 0.94617469575755997 * zz - 0.31539156525251999,
            1.0925484305920792 * x * z, 0.54627421529603959 * (xx - yy),
        ]  # fmt: skip
    if degree > 3:
        out += [
            0.59004358992664352 * y * (3.0 * xx - yy), 2.8906114426405538 * x * y * z,
            0.45704579946446572 * y * (5.0 * zz - 1.0), 0.3731763325901154 * z * (5.0 * zz - 3.0),
            0.45704579946446572 * x * (5.0 * zz - 1.0), 1.4453057213202769 * z * (xx - yy),
            0.59004358992664352 * x * (xx - 3.0 * yy),
        ]  # fmt: skip
    signs = torch.tensor(SH_SIGNS[convention][: degree * degree], dtype=d01.dtype, device=d01.device)
    return torch.stack(out, -1) * signs


def _corners(x: Tensor, y: Tensor, z: Tensor, combine) -> Tensor:
    """Combine per-dim pairs ``[2, ...]`` over the 8 corners into ``[8, ...]``; corner
    ``c`` takes element ``(c >> d) & 1`` along dim ``d`` (dim 0 varies fastest, as tcnn).
    The corner axis leads so that every elementwise op runs over the long point axis."""
    return combine(combine(z[:, None, None], y[None, :, None]), x[None, None, :]).flatten(0, 2)


def grid_corner_indices(x01: Tensor, level: GridLevel) -> tuple[Tensor, Tensor]:
    """Table rows and trilinear weights of the 8 corners around each point on one level.

    Reproduces tcnn's lookup: ``pos = x * scale + 0.5``; dense index
    ``x + y R + z R^2`` or CoherentPrime hash; then ``% n_entries`` (which wraps the
    upper border of dense levels, as tcnn does). ``x01 [..., 3]`` must lie in [0, 1].
    Returns ``rows [8, ...]`` (int64, local to the level) and ``weights [8, ...]``.
    """
    pos = x01.movedim(-1, 0) * level.scale + level.pos_offset  # [3, ...]
    cell = torch.floor(pos)
    frac = pos - cell
    lo = cell.long()
    g = torch.stack((lo, lo + 1), dim=1)  # [3, 2, ...]
    n = level.n_entries
    if level.hashed:
        index = _corners(g[0] * HASH_PRIMES[0], g[1] * HASH_PRIMES[1], g[2] * HASH_PRIMES[2], torch.bitwise_xor)
        # (h mod 2^32) mod n == h & (n - 1) for hashed tables (n = 2^T <= 2^32); general n otherwise
        index = index & (n - 1) if n & (n - 1) == 0 else (index & 0xFFFFFFFF) % n
    else:
        r = level.resolution
        index = _corners(g[0], g[1] * r, g[2] * (r * r), torch.add)
        # x in [0, 1] gives corners <= R, so index < R^3 + R^2 + R < 2 n: one subtraction is the modulo
        index = torch.where(index >= n, index - n, index)
    w = torch.stack((1.0 - frac, frac), dim=1)  # [3, 2, ...]
    return index, _corners(w[0], w[1], w[2], torch.mul)


def hash_encode(x01: Tensor, table: Tensor, levels: list[GridLevel]) -> Tensor:
    """tcnn ``HashGrid`` with linear interpolation; output is level-major ``[l * F + f]``.

    ``table`` is ``[B, n_entries_total, F]``, the levels' tables concatenated; the
    8 corners of every level are gathered from one flattened table.
    """
    batch, n_total, n_feat = table.shape
    flat = table.reshape(batch * n_total, n_feat)
    base = (torch.arange(batch, device=x01.device) * n_total).view(batch, *([1] * (x01.dim() - 2)))
    x01 = x01.clamp(0.0, 1.0)
    feats = []
    for level in levels:
        rows, w = grid_corner_indices(x01, level)  # [8, B, N]
        values = flat.index_select(0, (rows + (base + level.offset)).flatten()).view(*rows.shape, n_feat)
        feats.append((w[..., None] * values).sum(0))
    return torch.cat(feats, dim=-1)


def triplane_encode(x01: Tensor, planes: Tensor) -> Tensor:
    """Sum of bilinear samples of 3 axis-aligned planes (nf2vec layout ``[B, 3, R, R, C]``).

    Plane ``p`` is sampled with ``grid_sample(align_corners=True)`` at the pair
    ``PLANE_AXES[p]`` mapped to [-1, 1]; the first coordinate of the pair indexes the
    last spatial axis (W), the second the first (H), as nf2vec does.
    """
    batch, _, res, _, channels = planes.shape
    n = x01.shape[1]
    xy = x01 * 2.0 - 1.0
    grid = torch.stack([xy[..., list(axes)] for axes in PLANE_AXES], dim=1)  # [B, 3, N, 2]
    images = planes.permute(0, 1, 4, 2, 3).reshape(batch * 3, channels, res, res)
    sampled = F.grid_sample(images, grid.reshape(batch * 3, 1, n, 2), align_corners=True)  # [B*3, C, 1, N]
    return sampled.view(batch, 3, channels, n).sum(1).transpose(1, 2)

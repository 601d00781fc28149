"""Pure-PyTorch radiance fields of the three families, batched over many NeRFs.

A :class:`RadianceField` holds the parameters of ``B`` NeRFs of one architecture,
each tensor with a leading batch dimension, so that many NeRFs evaluate (and
train) as one computation. Outputs follow nf2vec: RGB = sigmoid(out[:3]) and
density = trunc_exp(out[3] - 1), zero outside the scene box.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from wsrl.errors import WsrlError
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.fields.encodings import frequency_encode, hash_encode, spherical_harmonics, triplane_encode
from wsrl.nerf.fields.mlp import mlp_forward


class _TruncExp(torch.autograd.Function):
    """``exp`` whose gradient is clamped at ``exp(15)`` (torch-ngp / nf2vec)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(-15.0, 15.0))


def trunc_exp(x: Tensor) -> Tensor:
    """Exponential with a clamped gradient, for densities."""
    return _TruncExp.apply(x)


def raw_to_density_color(spec: ArchSpec, raw: Tensor) -> tuple[Tensor, Tensor]:
    """Density ``[..., N]`` and RGB ``[..., N, 3]`` in [0, 1] from raw outputs (:meth:`RadianceField.raw` or
    the graph forward): ``trunc_exp(raw[density_index] + density_shift)``; RGB the sigmoid of the colour
    head's logits, or of the first three outputs without a head."""
    density = trunc_exp(raw[..., spec.density_index] + spec.density_shift)
    rgb = raw[..., spec.n_outputs :] if spec.head_shapes else raw[..., :3]
    return density, torch.sigmoid(rgb)


def init_tensor(spec: ArchSpec, name: str, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Initial value of one parameter tensor of shape ``[B, *shape]``.

    MLP matrices: Xavier-uniform for ReLU (tcnn's default), SIREN's
    ``U(±sqrt(6/in))`` with ω0 folded into the weights for sine; hash tables
    ``U(±1e-4)`` as tcnn; tri-planes ``N(0, 0.1²)``.
    """
    if name.startswith(("mlp.", "head.")):
        fan_out, fan_in = shape[-2:]
        sine = spec.activation == "sine" and name.startswith("mlp.")
        bound = math.sqrt(6.0 / fan_in) if sine else math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(shape, generator=generator) * 2 - 1) * bound
    if name.startswith(("mlp_bias.", "head_bias.")):
        return torch.zeros(shape)
    if name == "grid":
        return (torch.rand(shape, generator=generator) * 2 - 1) * 1e-4
    return torch.randn(shape, generator=generator) * 0.1


def contract(spec: ArchSpec, xyz: Tensor) -> Tensor:
    """The spec's scene contraction: identity, or nerfstudio's ``SceneContraction(order=inf)``, which keeps the
    unit cube and maps ``x`` outside it to ``(2 - 1/|x|) x/|x|`` (max-norm), so all of space fits [-2, 2]^3."""
    if spec.contraction == "none":
        return xyz
    mag = xyz.abs().amax(-1, keepdim=True)
    return torch.where(mag < 1, xyz, (2 - 1 / mag) * (xyz / mag))


def unit_cube(spec: ArchSpec, xyz: Tensor) -> Tensor:
    """World positions to the unit cube of the scene box (after the spec's contraction)."""
    xyz = contract(spec, xyz)
    lo = torch.tensor(spec.aabb[:3], dtype=xyz.dtype, device=xyz.device)
    return (xyz - lo) / (torch.tensor(spec.aabb[3:], dtype=xyz.dtype, device=xyz.device) - lo)


def encode_directions(spec: ArchSpec, dirs: Tensor) -> Tensor:
    """The colour head's view-direction features: spherical harmonics of unit directions ``[..., 3]``."""
    return spherical_harmonics((dirs + 1.0) / 2.0, spec.head_sh_degree, spec.head_sh_convention)


def encode_inputs(
    spec: ArchSpec, x01: Tensor, grid: Tensor | None = None, planes: Tensor | None = None, levels: list | None = None
) -> Tensor:
    """The MLP's input features ``[B, N, C]`` (before tcnn padding) of unit-cube positions ``[B, N, 3]``:
    frequency (or the position itself), plus summed tri-plane features, or the hash-grid features."""
    if spec.family == "hash":
        return hash_encode(x01, grid, spec.grid_levels if levels is None else levels)
    feats = frequency_encode(x01, spec.n_frequencies) if spec.n_frequencies else x01
    if spec.family == "triplane":
        feats = torch.cat([feats, triplane_encode(x01, planes)], dim=-1)
    return feats


class RadianceField(nn.Module):
    """``B`` NeRFs of one architecture; ``density_and_color(xyz [B, N, 3])``."""

    def __init__(self, spec: ArchSpec, tensors: dict[str, Tensor]) -> None:
        super().__init__()
        self.spec = spec
        expected = spec.tensor_shapes
        if set(tensors) != set(expected):
            raise WsrlError(f"arch {spec.name!r}: expected tensors {sorted(expected)}, got {sorted(tensors)}")
        batch = {t.shape[0] for t in tensors.values()}
        if len(batch) != 1:
            raise WsrlError(f"arch {spec.name!r}: tensors disagree on batch size {sorted(batch)}")
        for name, shape in expected.items():
            if tuple(tensors[name].shape[1:]) != shape:
                raise WsrlError(
                    f"arch {spec.name!r}: tensor {name!r} has shape {tuple(tensors[name].shape[1:])}, expected {shape}"
                )
        n_layers = len(spec.mlp_shapes)
        self.mlp = nn.ParameterList([nn.Parameter(tensors[f"mlp.{i}"].float()) for i in range(n_layers)])
        n_bias = n_layers if spec.mlp_biases else 0
        self.mlp_bias = nn.ParameterList([nn.Parameter(tensors[f"mlp_bias.{i}"].float()) for i in range(n_bias)])
        n_head = len(spec.head_shapes)
        self.head = nn.ParameterList([nn.Parameter(tensors[f"head.{i}"].float()) for i in range(n_head)])
        n_head_bias = n_head if spec.mlp_biases else 0
        self.head_bias = nn.ParameterList([nn.Parameter(tensors[f"head_bias.{i}"].float()) for i in range(n_head_bias)])
        self.appearance = nn.Parameter(tensors["appearance"].float()) if "appearance" in tensors else None
        self.grid = nn.Parameter(tensors["grid"].float()) if "grid" in tensors else None
        self.planes = nn.Parameter(tensors["planes"].float()) if "planes" in tensors else None
        self._levels = spec.grid_levels

    @classmethod
    def create(cls, spec: ArchSpec, batch_size: int = 1, seed: int = 0, shared: bool = False) -> RadianceField:
        """``batch_size`` freshly initialised NeRFs (deterministic for a seed); with ``shared`` all
        start from the same initial weights."""
        gen = torch.Generator().manual_seed(seed)
        shapes = spec.tensor_shapes.items()
        n = 1 if shared else batch_size
        tensors = {
            name: init_tensor(spec, name, (n, *shape), gen).expand(batch_size, *shape).clone() for name, shape in shapes
        }
        return cls(spec, tensors)

    @property
    def batch_size(self) -> int:
        return self.mlp[0].shape[0]

    def named_tensors(self) -> dict[str, Tensor]:
        """Batched tensors under their canonical names (``mlp.i``, ``grid``, ``planes``)."""
        out = {f"mlp.{i}": w for i, w in enumerate(self.mlp)}
        out.update({f"mlp_bias.{i}": b for i, b in enumerate(self.mlp_bias)})
        out.update({f"head.{i}": w for i, w in enumerate(self.head)})
        out.update({f"head_bias.{i}": b for i, b in enumerate(self.head_bias)})
        if self.appearance is not None:
            out["appearance"] = self.appearance
        if self.grid is not None:
            out["grid"] = self.grid
        if self.planes is not None:
            out["planes"] = self.planes
        return out

    def normalize(self, xyz: Tensor) -> Tensor:
        """World positions to the unit cube of the scene box."""
        return unit_cube(self.spec, xyz)

    def encode(self, x01: Tensor) -> Tensor:
        """The MLP's input features (before tcnn padding) for unit-cube positions."""
        return encode_inputs(self.spec, x01, self.grid, self.planes, self._levels)

    def raw(self, xyz: Tensor, dirs: Tensor | None = None) -> Tensor:
        """Raw outputs at world positions ``[B, N, 3]``: the MLP's outputs, then (with a colour
        head) the head's 3 RGB logits for view directions ``dirs`` (default: zero vector)."""
        x01 = self.normalize(xyz)
        s = self.spec
        biases = list(self.mlp_bias) or None
        out = mlp_forward(self.encode(x01), list(self.mlp), s.activation, s.input_pad_value, s.n_outputs, biases)
        if not self.head:
            return out
        dirs = torch.zeros_like(xyz) if dirs is None else dirs
        geo = torch.cat([out[..., : s.density_index], out[..., s.density_index + 1 :]], -1)
        parts = [encode_directions(s, dirs), geo]
        if self.appearance is not None:
            parts.append(self.appearance[:, None, :].expand(*geo.shape[:2], -1))
        rgb = mlp_forward(torch.cat(parts, -1), list(self.head), "relu", 1.0, 3, list(self.head_bias) or None)
        return torch.cat([out, rgb], -1)

    def density_and_color(self, xyz: Tensor, dirs: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Density ``[B, N]`` (zero outside the box) and RGB ``[B, N, 3]`` in [0, 1]."""
        x01 = self.normalize(xyz)
        density, rgb = raw_to_density_color(self.spec, self.raw(xyz, dirs))
        return density * ((x01 >= 0) & (x01 <= 1)).all(-1), rgb

    def forward(self, xyz: Tensor) -> tuple[Tensor, Tensor]:
        return self.density_and_color(xyz)

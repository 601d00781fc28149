"""The architecture registry: named NeRF architectures, created by name (timm-style).

An :class:`ArchSpec` fully describes one NeRF architecture of the three families
(``mlp``, ``triplane``, ``hash``). It is a frozen dataclass of plain numbers and
strings so it can travel inside every checkpoint and graph and be read back with
``torch.load(weights_only=True)``.

The 13 benchmark architectures of the README are registered at two scales:
``paper`` (the sizes of Ballerini et al.) and ``mini`` (a CPU-friendly default).
Users register more with :func:`register_arch`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from wsrl.errors import WsrlError
from wsrl.nerf.layout import GridLevel, grid_levels, mlp_matrix_shapes, per_level_scale
from wsrl.registry import Registry

Family = Literal["mlp", "triplane", "hash"]
SCALES = ("mini", "paper")
SCENE_AABB = (-0.7, -0.7, -0.7, 0.7, 0.7, 0.7)
# the benchmark's training architectures (the paper's three). Which architectures an encoder saw is a property
# of its training run (recorded there); this is only the default a run starts from.
BENCHMARK_SEEN = ("mlp", "triplane", "hash")
LEGACY_KEYS = frozenset({"seen"})  # spec keys of older files, read and ignored


@dataclass(frozen=True, kw_only=True)
class ArchSpec:
    """One NeRF architecture.

    Every field maps ``xyz`` in the scene box to 4 raw outputs (RGB logits and
    density before ``trunc_exp(x - 1)``) through a bias-free tiny-cuda-nn MLP fed
    by the family's encoding: frequency (``mlp``), frequency + summed tri-plane
    features (``triplane``) or a multi-resolution hash grid (``hash``).
    """

    name: str
    family: Family
    scale: str = "mini"
    hidden_width: int = 32
    hidden_layers: int = 3
    activation: Literal["relu", "sine"] = "relu"
    n_frequencies: int = 0
    plane_resolution: int = 0
    plane_features: int = 0
    hash_levels: int = 0
    hash_features: int = 0
    hash_log2_table: int = 0
    hash_base_resolution: int = 0
    hash_per_level_scale: float = 2.0
    hash_flavour: str = "tcnn"  # or "nerfstudio_torch" (see wsrl.fields.layout.grid_levels)
    n_outputs: int = 4
    align: int = 16
    input_pad_value: float = 1.0  # what tcnn feeds padded input columns (docs/formats.md §1.2.2)
    mlp_biases: bool = False  # tcnn MLPs have none; plain PyTorch MLPs (nn.Linear) do; applies to the head too
    density_index: int = 3  # which raw output is density (3 in nf2vec, 0 in nerfacto)
    density_shift: float = -1.0  # density = trunc_exp(raw + shift)
    # optional nerfacto-style colour head: [SH(dir) | geo features | appearance] -> RGB
    head_layers: int = -1  # hidden layers of the head; -1 = no head (RGB = sigmoid(raw[:3]))
    head_width: int = 64
    head_sh_degree: int = 4
    # spherical harmonics of the view direction: tcnn's (directions mapped to [-1, 1], tcnn's signs) or
    # nerfstudio's torch encoding (fed the [0, 1]-mapped direction as is, all-positive l=1 signs)
    head_sh_convention: Literal["tcnn", "nerfstudio_torch"] = "tcnn"
    head_appearance: int = 0  # appearance-embedding width (the converter stores the vector the source renders with)
    aabb: tuple[float, ...] = field(default=SCENE_AABB)
    # world -> field coordinates before the box: none, or nerfstudio's SceneContraction(order=inf) into [-2, 2]^3
    contraction: Literal["none", "nerfstudio_inf"] = "none"

    def __post_init__(self) -> None:
        if self.family not in ("mlp", "triplane", "hash"):
            raise WsrlError(f"arch {self.name!r}: unknown family {self.family!r}")
        if self.activation not in ("relu", "sine"):
            raise WsrlError(f"arch {self.name!r}: unknown activation {self.activation!r}")
        if self.family == "triplane" and self.n_frequencies < 1:
            raise WsrlError(f"arch {self.name!r}: family triplane needs n_frequencies >= 1")
        if self.family == "triplane" and (self.plane_resolution < 2 or self.plane_features < 1):
            raise WsrlError(f"arch {self.name!r}: tri-plane needs plane_resolution >= 2 and plane_features >= 1")
        if self.family == "hash" and min(self.hash_levels, self.hash_features, self.hash_log2_table) < 1:
            raise WsrlError(f"arch {self.name!r}: hash grid needs levels, features and log2 table size >= 1")
        if not 0 <= self.density_index < self.n_outputs:
            raise WsrlError(f"arch {self.name!r}: density_index {self.density_index} outside {self.n_outputs} outputs")
        if self.head_layers < 0 and (self.n_outputs < 4 or self.density_index < 3):
            raise WsrlError(
                f"arch {self.name!r}: without a colour head outputs 0-2 are RGB, so the MLP needs >= 4 outputs "
                f"and density_index >= 3 (got {self.n_outputs} outputs, density_index {self.density_index})"
            )
        if self.head_sh_convention not in ("tcnn", "nerfstudio_torch"):
            raise WsrlError(f"arch {self.name!r}: unknown head_sh_convention {self.head_sh_convention!r}")
        if self.contraction not in ("none", "nerfstudio_inf"):
            raise WsrlError(f"arch {self.name!r}: unknown contraction {self.contraction!r}")
        if self.hidden_width < 1 or self.hidden_layers < 0:
            raise WsrlError(
                f"arch {self.name!r}: bad MLP size (width {self.hidden_width}, layers {self.hidden_layers})"
            )
        lo, hi = self.aabb[:3], self.aabb[3:]
        if (
            len(self.aabb) != 6
            or not all(math.isfinite(v) for v in self.aabb)
            or not all(a < b for a, b in zip(lo, hi, strict=True))
        ):
            raise WsrlError(f"arch {self.name!r}: scene box must be 6 finite numbers, min < max, got {list(self.aabb)}")

    # -- derived sizes (computed once: a spec never changes, and readers and graph builders ask often) -----
    @property
    def encoding_width(self) -> int:
        """Width of the MLP's input before tcnn's padding."""
        freq = 3 * 2 * self.n_frequencies
        if self.family == "mlp":
            return freq or 3  # n_frequencies == 0: the unit-cube position itself
        if self.family == "triplane":
            return freq + self.plane_features
        return self.hash_levels * self.hash_features

    @property
    def head_inputs(self) -> int:
        """Width of the colour head's input before padding: SH, geo features, appearance."""
        return self.head_sh_degree**2 + self.n_outputs - 1 + self.head_appearance

    @cached_property
    def head_shapes(self) -> list[tuple[int, int]]:
        """``[out, in]`` of the colour head's matrices (empty without a head)."""
        if self.head_layers < 0:
            return []
        return mlp_matrix_shapes(self.head_inputs, self.head_width, self.head_layers, 3, self.align)

    @cached_property
    def mlp_shapes(self) -> list[tuple[int, int]]:
        """``[out, in]`` of every weight matrix, tcnn padding included."""
        return mlp_matrix_shapes(self.encoding_width, self.hidden_width, self.hidden_layers, self.n_outputs, self.align)

    @cached_property
    def grid_levels(self) -> list[GridLevel]:
        """Hash-grid levels (empty for other families)."""
        if self.family != "hash":
            return []
        return grid_levels(
            self.hash_levels, self.hash_base_resolution, self.hash_per_level_scale, self.hash_log2_table,
            flavour=self.hash_flavour,
        )  # fmt: skip

    @cached_property
    def grid_entries(self) -> int:
        """Rows of the concatenated hash table."""
        return sum(level.n_entries for level in self.grid_levels)

    @cached_property
    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name and shape of every tensor a NeRF of this architecture holds."""
        shapes: dict[str, tuple[int, ...]] = {f"mlp.{i}": s for i, s in enumerate(self.mlp_shapes)}
        if self.mlp_biases:
            shapes.update({f"mlp_bias.{i}": (s[0],) for i, s in enumerate(self.mlp_shapes)})
        shapes.update({f"head.{i}": s for i, s in enumerate(self.head_shapes)})
        if self.mlp_biases:
            shapes.update({f"head_bias.{i}": (s[0],) for i, s in enumerate(self.head_shapes)})
        if self.head_layers >= 0 and self.head_appearance:
            shapes["appearance"] = (self.head_appearance,)
        if self.family == "triplane":
            r = self.plane_resolution
            shapes["planes"] = (3, r, r, self.plane_features)
        if self.family == "hash":
            shapes["grid"] = (self.grid_entries, self.hash_features)
        return shapes

    @cached_property
    def n_params(self) -> int:
        """Stored parameters, tcnn padding included."""
        total = 0
        for shape in self.tensor_shapes.values():
            n = 1
            for s in shape:
                n *= s
            total += n
        return total

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, safe for ``weights_only`` checkpoints."""
        d = dataclasses.asdict(self)
        d["aabb"] = list(self.aabb)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArchSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names - LEGACY_KEYS
        if unknown:
            raise WsrlError(f"unknown ArchSpec keys {sorted(unknown)}")
        d = {k: v for k, v in d.items() if k not in LEGACY_KEYS}
        if "aabb" in d:
            d["aabb"] = tuple(float(v) for v in d["aabb"])
        return cls(**d)


def nerfacto_base_spec() -> ArchSpec:
    """The geometry network of nerfstudio's nerfacto field at its default sizes (docs/formats.md §2.5):
    hash grid 16 levels x 2^19 x 2, resolution 16 -> 2048, then a 32 -> 64 -> 16 tcnn MLP whose
    padded inputs see 0 (``NetworkWithInputEncoding`` over a grid). Not one of the 13 benchmark
    architectures; used for real-size conversion tests and benchmarks."""
    return ArchSpec(
        name="nerfacto_base", family="hash", scale="paper", hidden_width=64, hidden_layers=1, activation="relu",
        hash_levels=16, hash_features=2, hash_log2_table=19, hash_base_resolution=16,
        hash_per_level_scale=per_level_scale(16, 2048, 16), n_outputs=16, input_pad_value=0.0,
    )  # fmt: skip


ARCHS: dict[str, Registry[ArchSpec]] = {}  # one registry per scale
_registrations = 0


def _registry(scale: str) -> Registry[ArchSpec]:
    return ARCHS.setdefault(scale, Registry("architecture", f" at scale {scale!r}"))


def register_arch(spec: ArchSpec, overwrite: bool = False) -> ArchSpec:
    """Add ``spec`` to the registry of its scale under its name."""
    global _registrations
    _registry(spec.scale).register(spec.name, spec, overwrite=overwrite)
    _registrations += 1
    return spec


def registrations() -> int:
    """How many times an architecture was registered: what a cache of registry look-ups must be keyed by."""
    return _registrations


def get_arch(name: str, scale: str = "mini") -> ArchSpec:
    """The registered spec ``name`` at ``scale``."""
    return _registry(scale).get(name)


def list_archs(scale: str = "mini") -> list[str]:
    """Registered names at ``scale`` in registration order."""
    return _registry(scale).names()


def _register_benchmark() -> None:
    """The 13 architectures of the README: three seen bases and ten one-change variants."""
    for scale, width, freq, tri_freq, plane_r, plane_f, table, res in (
        ("paper", 64, 24, 48, 32, 16, 12, 16),
        ("mini", 32, 8, 8, 16, 8, 11, 8),
    ):
        mlp = ArchSpec(name="mlp", family="mlp", scale=scale, hidden_width=width, n_frequencies=freq)
        tri = ArchSpec(
            name="triplane",
            family="triplane",
            scale=scale,
            hidden_width=width,
            activation="sine",
            n_frequencies=tri_freq,
            plane_resolution=plane_r,
            plane_features=plane_f,
        )
        hsh = ArchSpec(
            name="hash",
            family="hash",
            scale=scale,
            hidden_width=width,
            hash_levels=4,
            hash_features=2,
            hash_log2_table=table,
            hash_base_resolution=res,
            hash_per_level_scale=2.0,
        )
        for spec in (mlp, tri, hsh):
            register_arch(spec)
        variants = {
            "mlp_2layers": (mlp, {"hidden_layers": 2}),
            "mlp_4layers": (mlp, {"hidden_layers": 4}),
            "mlp_128units": (mlp, {"hidden_width": 2 * width}),
            "mlp_sine": (mlp, {"activation": "sine"}),
            "triplane_res16": (tri, {"plane_resolution": plane_r // 2}),
            "triplane_feat8": (tri, {"plane_features": plane_f // 2}),
            "triplane_relu": (tri, {"activation": "relu"}),
            "hash_table11": (hsh, {"hash_log2_table": table - 1}),
            # 8 levels over the same resolution range: b = 8**(1/7), as nerfstudio computes it
            "hash_levels8": (hsh, {"hash_levels": 8, "hash_per_level_scale": float(8.0 ** (1 / 7))}),
            "hash_feat4": (hsh, {"hash_features": 4}),
        }
        for name, (base, change) in variants.items():
            register_arch(dataclasses.replace(base, name=name, **change))


_register_benchmark()

"""Plain PyTorch MLPs: a ``torch.nn.Sequential`` of ``Linear`` and activation layers.

In memory (:func:`read_module`) the activation is read from the layers (``nn.ReLU``,
or any module whose class is named ``Sine``/``SineLayer``/``Sin``). A file holds only
the state dict (``<i>.weight`` / ``<i>.bias`` keys), which carries no activation:
ReLU is assumed and recorded in ``meta["activation_assumed"]``.

The network is read as a NeRF MLP: 3 inputs (the unit-cube position) or ``6 F``
inputs (tcnn-order frequency encoding with ``F`` frequencies), equal hidden widths,
4 outputs (RGB logits, density before ``trunc_exp(x - 1)``). No padding (``align=1``).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn
from wsrl.converters.checks import ConversionError, get_tensor, layout_name

from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.checkpoint import NeRF

KEY = re.compile(r"^(\d+)\.(weight|bias)$")
SINE_NAMES = {"Sine", "SineLayer", "Sin"}


def is_sequential_state(payload: object) -> bool:
    return isinstance(payload, dict) and bool(payload) and all(isinstance(k, str) and KEY.match(k) for k in payload)


def _nerf_from_layers(
    weights: list[Tensor], biases: list[Tensor | None], activation: str, source: str, meta: dict, name: str
) -> NeRF:
    n_in = weights[0].shape[1]
    if n_in != 3 and n_in % 6:
        raise ConversionError(f"{source}: first Linear has {n_in} inputs, expected 3 (position) or 6*F (frequencies)")
    if weights[-1].shape[0] != 4:
        raise ConversionError(f"{source}: last Linear has {weights[-1].shape[0]} outputs, expected 4 (RGB, density)")
    hidden = {w.shape[0] for w in weights[:-1]}
    if len(hidden) > 1:
        raise ConversionError(f"{source}: hidden widths {sorted(hidden)} differ; wsrl MLPs have one hidden width")
    for i, (a, b) in enumerate(zip(weights[:-1], weights[1:], strict=True)):
        if b.shape[1] != a.shape[0]:
            raise ConversionError(f"{source}: layer {i + 1} takes {b.shape[1]} inputs but layer {i} gives {a.shape[0]}")
    spec = ArchSpec(
        name=name, family="mlp", scale="custom", hidden_width=hidden.pop() if hidden else 4,
        hidden_layers=len(weights) - 1, activation=activation,
        n_frequencies=0 if n_in == 3 else n_in // 6, align=1, mlp_biases=True,
    )  # fmt: skip
    tensors = {f"mlp.{i}": w.float().clone() for i, w in enumerate(weights)}
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        tensors[f"mlp_bias.{i}"] = torch.zeros(w.shape[0]) if b is None else b.float().clone()
    return NeRF(spec, tensors, {"source": source, "format": "sequential", **meta})


def read_module(module: nn.Sequential, source: str = "<module>") -> NeRF:
    """An in-memory ``nn.Sequential`` of ``Linear`` and ``ReLU``/sine layers."""
    linears = [m for m in module if isinstance(m, nn.Linear)]
    acts = {type(m).__name__ for m in module if not isinstance(m, nn.Linear)}
    if not linears:
        raise ConversionError(f"{source}: no nn.Linear layer")
    if acts - {"ReLU"} - SINE_NAMES or len(acts) > 1:
        raise ConversionError(f"{source}: activations {sorted(acts)}; expected only ReLU or only a sine layer")
    activation = "sine" if acts & SINE_NAMES else "relu"
    return _nerf_from_layers(
        [m.weight.detach() for m in linears], [None if m.bias is None else m.bias.detach() for m in linears],
        activation, source, {"activation_assumed": False}, "sequential",
    )  # fmt: skip


def read_sequential_state(state: dict, source: str, arch: str | None = None) -> NeRF:
    """A saved ``nn.Sequential`` state dict; ReLU is assumed (a state dict stores no activation); ``arch`` names
    the layout (default ``sequential``)."""
    name = layout_name(arch, "sequential", source)
    indices = sorted({int(KEY.match(k).group(1)) for k in state})
    weights = [get_tensor(source, state, f"{i}.weight") for i in indices]
    for i, w in zip(indices, weights, strict=True):
        if w.dim() != 2:
            raise ConversionError(f"{source}: tensor '{i}.weight' has shape {tuple(w.shape)}, expected [out, in]")
    biases = [get_tensor(source, state, f"{i}.bias", (w.shape[0],)) if f"{i}.bias" in state else None
              for i, w in zip(indices, weights, strict=True)]  # fmt: skip
    return _nerf_from_layers(weights, biases, "relu", source, {"activation_assumed": True}, name)

"""nerfstudio ``.ckpt`` files of ``nerfacto`` and ``instant-ngp``, docs/formats.md §2.

A checkpoint is ``{"step", "pipeline", "optimizers", "schedulers", "scalers"}`` of plain
tensors and containers. The model's keys sit under ``_model.`` (``_model.module.``
with DDP); everything else (datamanager, camera optimizer, metrics, proposal
networks) is left out. Three key generations of the field are read:

====== ===============================================================================
gen-1  ``field.mlp_base.params`` = [network | grid], ``field.mlp_head.params``
gen-2  ``field.mlp_base_grid.tcnn_encoding.params`` + ``field.mlp_base_mlp.tcnn_encoding.params``
       (aliases ``field.mlp_base.0/1.…`` and v0.3.2's untrained ``hash_table`` ignored)
gen-3  ``field.mlp_base.model.params`` = [network | grid], ``field.mlp_head.tcnn_encoding.params``
torch  ``implementation="torch"``: ``field.mlp_base.model.0.hash_table`` ``[L 2^T, F]``,
       ``field.mlp_base.model.1.layers.i.{weight,bias}``, ``field.mlp_head.layers.i.{weight,bias}``
       (nerfstudio's own grid: every level hashed, no 0.5 offset; ``nn.Linear`` with biases)
====== ===============================================================================

``config.yml`` (beside the checkpoint or one folder up) is read without nerfstudio; missing fields
fall back to the model's defaults and every size is cross-checked against the tensors. The field is
evaluated as nerfstudio evaluates it at inference (checked against nerfstudio 1.1.5's own outputs,
tests/fixtures/nerfstudio):

* scene contraction (``SceneContraction(order=inf)`` into [-2, 2]^3) unless ``disable_scene_contraction``,
  in which case positions are normalised by the field's own box (tensor ``field.aabb``);
* density ``average_init_density * trunc_exp(raw)`` (instant-ngp: factor 1);
* the appearance input is the mean embedding with nerfacto's ``use_average_appearance_embedding`` (its
  default) and zeros otherwise, and always zeros for instant-ngp (whose embedding exists exactly when
  ``use_appearance_embedding`` is false, as nerfstudio 1.1.5 builds it);
* view directions through tiny-cuda-nn's spherical harmonics for the tcnn layouts and through nerfstudio's
  torch ones (another convention) for the torch layout.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import yaml
from wsrl.converters.checks import ConversionError, get_tensor, layout_name

from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.checkpoint import NeRF
from wsrl.nerf.fields.tcnn import from_tcnn_params, split_matrices, tcnn_param_count
from wsrl.nerf.layout import per_level_scale

NERFACTO_DEFAULTS = {
    "hidden_dim": 64, "hidden_dim_color": 64, "num_levels": 16, "base_res": 16, "max_res": 2048,
    "log2_hashmap_size": 19, "features_per_level": 2, "num_layers": 2, "num_layers_color": 3, "geo_feat_dim": 15,
    "implementation": "tcnn",
}  # fmt: skip
BASE_KEYS = {  # generation -> (network key, grid key); None: one [network | grid] vector
    "gen-3": ("field.mlp_base.model.params", None),
    "gen-1": ("field.mlp_base.params", None),
    "gen-2": ("field.mlp_base_mlp.tcnn_encoding.params", "field.mlp_base_grid.tcnn_encoding.params"),
    "gen-2 alias": ("field.mlp_base.1.tcnn_encoding.params", "field.mlp_base.0.tcnn_encoding.params"),
}
HEAD_KEYS = ("field.mlp_head.tcnn_encoding.params", "field.mlp_head.params")
APPEARANCE_KEY = "field.embedding_appearance.embedding.weight"
AABB_KEY = "field.aabb"  # the field's scene box [[min xyz], [max xyz]], used without contraction
SIZE_BUFFERS = {name: f"field.{name}" for name in ("num_levels", "max_res", "log2_hashmap_size")}  # buffers
NGP_CONFIG_KEYS = ("log2_hashmap_size", "max_res", "disable_scene_contraction")  # what NGPModel passes its field
CONTRACTED_BOX = (-2.0,) * 3 + (2.0,) * 3
TORCH_GRID_KEY = "field.mlp_base.model.0.hash_table"  # implementation="torch": nn.Linear MLPs with biases
TORCH_BASE_LAYERS = "field.mlp_base.model.1.layers"
TORCH_HEAD_LAYERS = "field.mlp_head.layers"


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML loader that turns nerfstudio's ``!!python/...`` tags into plain data (never code)."""


def _python_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    value = loader.construct_scalar(node)
    return value if value else suffix  # ``!!python/name:module.Class ''`` -> "module.Class"


_ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_tag)


MAX_CONFIG_NODES = 100_000
"""A nerfstudio ``config.yml`` has a few hundred YAML nodes; aliases count once per use, so a document that
expands past this (an alias bomb: a few hundred bytes naming gigabytes) is refused before it is built."""


def _expanded_nodes(root: yaml.Node) -> int:
    """Number of nodes ``root`` expands to, aliases counted at every use (memoised: linear in the document)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 1  # a recursive alias counts once instead of looping
            children = node.value if isinstance(node.value, list) else []
            items = [n for pair in children for n in pair] if isinstance(node, yaml.MappingNode) else children
            sizes[id(node)] = min(1 + sum(size(n) for n in items), MAX_CONFIG_NODES + 1)
        return sizes[id(node)]

    return size(root)


def _short(value: object) -> str:
    """``repr(value)`` cut to 60 characters, for error messages about values read from a file."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_nerfstudio(payload: object) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("pipeline"), dict)


def read_config(ckpt: Path) -> dict:
    """``config.yml`` beside the checkpoint or in its parent (nerfstudio's run folder); {} if none."""
    for folder in (ckpt.parent, ckpt.parent.parent):
        path = folder / "config.yml"
        if path.exists():
            loader = _ConfigLoader(path.read_text())
            try:
                node = loader.get_single_node()
                if node is not None and _expanded_nodes(node) > MAX_CONFIG_NODES:
                    raise ConversionError(f"{path}: config.yml expands to over {MAX_CONFIG_NODES} YAML nodes (aliases)")
                doc = loader.construct_document(node) if node is not None else None
            except yaml.YAMLError as exc:
                raise ConversionError(f"{path}: unreadable config.yml ({str(exc).splitlines()[0]})") from None
            return doc if isinstance(doc, dict) else {}
    return {}


def model_state(payload: dict) -> dict:
    """The model's tensors with the ``_model.`` / ``_model.module.`` prefix stripped."""
    out = {}
    for key, value in payload["pipeline"].items():
        if key.startswith("_model."):
            key = key[len("_model.") :]
            key = key[len("module.") :] if key.startswith("module.") else key
            out[key] = value
    return out


def _base_vectors(state: dict, source: str) -> tuple[str, torch.Tensor, torch.Tensor | None]:
    for generation, (net_key, grid_key) in BASE_KEYS.items():
        if net_key in state and (grid_key is None or grid_key in state):
            net = get_tensor(source, state, net_key).reshape(-1)
            grid = get_tensor(source, state, grid_key).reshape(-1) if grid_key else None
            return generation.split()[0], net, grid
    expected = " or ".join(k for k, _ in BASE_KEYS.values())
    raise ConversionError(f"{source}: no nerfacto field found (expected tensor {expected} under '_model.')")


def _mapping(value: object, source: str, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConversionError(f"{source}: config.yml {what} must be a mapping, got {type(value).__name__}")
    return value


def model_config(config: dict, state: dict, source: str) -> tuple[str, dict]:
    """The method name and the field's settings: config.yml's model section over nerfstudio's defaults,
    the size buffers the field registers (``field.num_levels`` ...) cross-checked against it."""
    section = _mapping(_mapping(config.get("pipeline"), source, "'pipeline'").get("model"), source, "'pipeline.model'")
    method = config.get("method_name")
    if method is not None and not isinstance(method, str):
        raise ConversionError(f"{source}: config.yml 'method_name' must be a string, got {_short(method)}")
    ngp = "instant_ngp" in str(section.get("_target", "")) or (method or "").startswith("instant-ngp")
    method = method or ("instant-ngp" if ngp else "nerfacto")
    if ngp:  # NGPModel builds NerfactoField with its defaults except these, and always zero appearance
        section = {k: section[k] for k in NGP_CONFIG_KEYS if k in section}
        section.update(use_average_appearance_embedding=False, average_init_density=1.0)
    model = {**NERFACTO_DEFAULTS, **section}
    for name, key in SIZE_BUFFERS.items():
        buffer = state.get(key)
        if isinstance(buffer, torch.Tensor) and buffer.numel() == 1 and int(buffer) != int(model[name]):
            raise ConversionError(
                f"{source}: tensor {key!r} is {int(buffer)}, but the {method} config gives {name} {model[name]}"
            )
    return method, model


def _field_box(model: dict, state: dict, source: str) -> dict:
    """Contraction and box of the field: contracted [-2, 2]^3, or the field's own ``aabb`` without contraction."""
    if not model.get("disable_scene_contraction", False):
        return {"contraction": "nerfstudio_inf", "aabb": CONTRACTED_BOX}
    box = get_tensor(source, state, AABB_KEY, (2, 3))
    if not (box[1] > box[0]).all():
        raise ConversionError(f"{source}: tensor {AABB_KEY!r} must hold [min, max] with min < max, got {box.tolist()}")
    return {"contraction": "none", "aabb": tuple(box.flatten().tolist())}


def _density_shift(model: dict, source: str) -> float:
    """``average_init_density * exp(raw) = exp(raw + log(average_init_density))``."""
    scale = model.get("average_init_density", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
        raise ConversionError(
            f"{source}: config.yml average_init_density must be a positive number, got {_short(scale)}"
        )
    return math.log(scale)


def read_nerfstudio(payload: dict, source: str, arch: str | None = None) -> NeRF:
    """A nerfstudio nerfacto / instant-ngp checkpoint as a NeRF (hash grid + base MLP + colour head)."""
    state = model_state(payload)
    torch_impl = TORCH_GRID_KEY in state
    method, model = model_config(read_config(Path(source)), state, source)
    generation, net, grid = ("gen-3 torch", None, None) if torch_impl else _base_vectors(state, source)
    appearance = get_tensor(source, state, APPEARANCE_KEY) if APPEARANCE_KEY in state else None
    if appearance is not None and appearance.dim() != 2:
        shape = tuple(appearance.shape)
        raise ConversionError(f"{source}: tensor {APPEARANCE_KEY!r} must be [images, dims], got {shape}")
    levels, base_res = int(model["num_levels"]), int(model["base_res"])
    name = layout_name(arch, method, source)
    try:
        spec = ArchSpec(
            name=name, family="hash", scale="nerfstudio", hidden_width=int(model["hidden_dim"]),
            hidden_layers=int(model["num_layers"]) - 1, activation="relu",
            hash_levels=levels, hash_features=int(model["features_per_level"]),
            hash_log2_table=int(model["log2_hashmap_size"]), hash_base_resolution=base_res,
            hash_per_level_scale=per_level_scale(base_res, int(model["max_res"]), levels),
            n_outputs=1 + int(model["geo_feat_dim"]), input_pad_value=0.0, density_index=0,
            density_shift=_density_shift(model, source),
            head_layers=int(model["num_layers_color"]) - 1, head_width=int(model["hidden_dim_color"]),
            head_appearance=0 if appearance is None else appearance.shape[1], **_field_box(model, state, source),
            **({"hash_flavour": "nerfstudio_torch", "mlp_biases": True, "align": 1,
                "head_sh_convention": "nerfstudio_torch"} if torch_impl else {}),
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{source}: inconsistent nerfstudio config: {exc}") from None
    if torch_impl:
        tensors = _torch_tensors(state, spec, source)
    else:
        tensors = _tcnn_tensors(state, spec, source, generation, net, grid)
    if appearance is not None:  # what nerfstudio feeds the head at inference
        average = model.get("use_average_appearance_embedding", True)
        tensors["appearance"] = appearance.mean(0) if average else torch.zeros(appearance.shape[1])
    path = Path(source)
    run = path.parent.parent.name if path.parent.name == "nerfstudio_models" else path.stem
    step = payload.get("step")
    meta = {"source": source, "format": "nerfstudio", "generation": generation, "method": method, "object_id": run,
            "step": step if isinstance(step, int) else -1}  # fmt: skip
    return NeRF(spec, tensors, meta)


def _torch_tensors(state: dict, spec: ArchSpec, source: str) -> dict[str, torch.Tensor]:
    """implementation='torch': ``hash_table [L * 2^T, F]`` and ``layers.i.{weight, bias}`` (no padding)."""
    tensors = {"grid": get_tensor(source, state, TORCH_GRID_KEY, spec.tensor_shapes["grid"])}
    for prefix, name, shapes in (
        ("mlp", TORCH_BASE_LAYERS, spec.mlp_shapes),
        ("head", TORCH_HEAD_LAYERS, spec.head_shapes),
    ):
        for i, shape in enumerate(shapes):
            tensors[f"{prefix}.{i}"] = get_tensor(source, state, f"{name}.{i}.weight", shape)
            tensors[f"{prefix}_bias.{i}"] = get_tensor(source, state, f"{name}.{i}.bias", (shape[0],))
    return tensors


def _tcnn_tensors(
    state: dict, spec: ArchSpec, source: str, generation: str, net: torch.Tensor, grid: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """tiny-cuda-nn layout: flat [network | grid] and the head's flat vector."""
    method = spec.name
    n_net, n_grid = tcnn_param_count(spec)
    flat = net if grid is None else torch.cat([net, grid])
    if flat.numel() != n_net + n_grid:
        raise ConversionError(
            f"{source}: field.mlp_base ({generation}) has {flat.numel()} parameters, the {method} config "
            f"(hidden {spec.hidden_width}, {spec.hash_levels} levels x 2^{spec.hash_log2_table}) expects "
            f"{n_net} network + {n_grid} grid = {n_net + n_grid}"
        )
    tensors = from_tcnn_params(spec, flat, source=source)
    head_key = next((k for k in HEAD_KEYS if k in state), HEAD_KEYS[0])
    n_head = sum(o * i for o, i in spec.head_shapes)
    tensors.update(split_matrices(get_tensor(source, state, head_key, (n_head,)), spec.head_shapes, "head"))
    return tensors

"""nerfstudio nerfacto / instant-ngp checkpoints built from docs/formats.md §2's key names at real default sizes."""

import pytest
import torch
from wsrl.converters import ConversionError, read_checkpoint

from wsrl.cli.main import main
from wsrl.graph.build import nerf_to_graph
from wsrl.graph.files import load_shard
from wsrl.graph.forward import graph_forward

NET, GRID, HEAD, N_IMAGES = 3_072, 12_196_240, 9_216, 7  # docs/formats.md §1.2.3 and §1.3

CONFIG = """!!python/object:nerfstudio.engine.trainer.TrainerConfig
_target: !!python/name:nerfstudio.engine.trainer.Trainer ''
method_name: {method}
output_dir: !!python/object/apply:pathlib.PosixPath
- outputs
pipeline: !!python/object:nerfstudio.pipelines.base_pipeline.VanillaPipelineConfig
  _target: !!python/name:nerfstudio.pipelines.base_pipeline.VanillaPipeline ''
  model: !!python/object:nerfstudio.models.nerfacto.NerfactoModelConfig
    _target: !!python/name:nerfstudio.models.nerfacto.NerfactoModel ''
    hidden_dim: {hidden}
    num_levels: 16
    max_res: 2048
    log2_hashmap_size: 19
    implementation: tcnn
    collider_params: !!python/tuple
    - near_plane
    - 2.0
    proposal_net_args_list:
    - hidden_dim: 16
      log2_hashmap_size: 17
      num_levels: 5
      max_res: 128
"""


@pytest.fixture(scope="module")
def weights():
    gen = torch.Generator().manual_seed(0)
    grid = (torch.rand(GRID, generator=gen) * 2 - 1) * 1e-4
    grid[torch.randint(GRID, (50_000,), generator=gen)] = torch.randn(50_000, generator=gen)  # "trained" entries
    return {
        "net": torch.randn(NET, generator=gen) * 0.2,
        "grid": grid,
        "head": torch.randn(HEAD, generator=gen) * 0.2,
        "appearance": torch.randn(N_IMAGES, 32, generator=gen),
    }


def write_run(root, weights, generation, prefix="_model.", method="nerfacto", hidden=64, extra=None):
    w = weights
    field = {
        "gen-1": {"field.mlp_base.params": torch.cat([w["net"], w["grid"]]), "field.mlp_head.params": w["head"]},
        "gen-2": {
            "field.mlp_base_grid.tcnn_encoding.params": w["grid"],
            "field.mlp_base_mlp.tcnn_encoding.params": w["net"],
            "field.mlp_base.0.tcnn_encoding.params": w["grid"],  # alias of the same tensor
            "field.mlp_base.1.tcnn_encoding.params": w["net"],
            "field.mlp_base_grid.hash_table": torch.zeros(16, 2),  # v0.3.2's untrained dummy (shape shortened)
            "field.mlp_head.tcnn_encoding.params": w["head"],
        },
        "gen-3": {
            "field.mlp_base.model.params": torch.cat([w["net"], w["grid"]]),
            "field.mlp_head.tcnn_encoding.params": w["head"],
            "field.aabb": torch.tensor([[-1.0] * 3, [1.0] * 3]),
            "field.max_res": torch.tensor(2048),
        },
    }[generation]
    state = {
        **field,
        "field.direction_encoding.tcnn_encoding.params": torch.zeros(0),
        "field.embedding_appearance.embedding.weight": w["appearance"],
        "camera_optimizer.pose_adjustment": torch.zeros(N_IMAGES, 6),
        "device_indicator_param": torch.zeros(0),
        "proposal_networks.0.mlp_base.1.tcnn_encoding.params": torch.zeros(512),
        **(extra or {}),
    }
    pipeline = {prefix + k: v for k, v in state.items()}
    pipeline["datamanager.train_camera_optimizer.pose_adjustment"] = torch.zeros(N_IMAGES, 6)
    payload = {
        "step": 29_999,
        "pipeline": pipeline,
        "optimizers": {"fields": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]}},
        "schedulers": {"fields": {"last_epoch": 29_999}},
        "scalers": {},
    }
    path = root / "nerfstudio_models" / "step-000029999.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(payload, path)
    (root / "config.yml").write_text(CONFIG.format(method=method, hidden=hidden))
    return path


@pytest.mark.parametrize("generation,prefix", [("gen-1", "_model."), ("gen-2", "_model."), ("gen-3", "_model.module.")])
def test_reads_every_key_generation(tmp_path, weights, generation, prefix):
    path = write_run(tmp_path / "lego", weights, generation, prefix)
    nerf = read_checkpoint(path)
    assert nerf.meta["generation"] == generation and nerf.meta["object_id"] == "lego" and nerf.meta["step"] == 29_999
    assert nerf.spec.n_params == NET + GRID + HEAD + 32
    assert torch.equal(nerf.tensors["grid"].flatten(), weights["grid"])
    assert torch.equal(nerf.tensors["mlp.0"], weights["net"][: 64 * 32].view(64, 32))
    assert torch.equal(nerf.tensors["head.0"], weights["head"][: 64 * 64].view(64, 64))
    torch.testing.assert_close(nerf.tensors["appearance"], weights["appearance"].mean(0))


def test_instant_ngp_and_convert_bounded_graph(tmp_path, weights):
    write_run(tmp_path / "runs" / "ngp", weights, "gen-3", method="instant-ngp")
    out = tmp_path / "graphs"
    assert main(["convert", str(tmp_path / "runs"), "--out", str(out)]) == 0
    (graph,) = load_shard(out / "shard_00000.pt")
    assert graph.arch == "instant-ngp" and graph.num_edges <= 200_000
    nerf = read_checkpoint(next((tmp_path / "runs").rglob("*.ckpt")))
    kept = torch.zeros(nerf.tensors["grid"].shape[0], 1)
    kept[graph.grid_rows] = 1.0
    nerf.tensors["grid"] = nerf.tensors["grid"] * kept  # what the bounded graph keeps
    xyz = torch.rand(16, 3) * 2 - 1
    dirs = torch.nn.functional.normalize(torch.randn(16, 3), dim=-1)
    ref = nerf.field().raw(xyz[None], dirs[None])[0]
    torch.testing.assert_close(graph_forward(graph, xyz, dirs), ref, atol=1e-5, rtol=1e-5)
    # the trained entries survive the bound; the U(1e-4) init ones go first
    assert graph.edge_attr[graph.edge_attr[:, 2] == 3, 0].abs().max() > 1.0


def test_bad_nerfstudio_checkpoints(tmp_path, weights):
    path = write_run(tmp_path / "a", weights, "gen-3", hidden=32)
    with pytest.raises(ConversionError, match="field.mlp_base .*expects 1536 network"):
        read_checkpoint(path)
    path = write_run(tmp_path / "b", weights, "gen-3", extra={"field.mlp_base.model.0.hash_table": torch.zeros(4, 2)})
    with pytest.raises(ConversionError, match=r"tensor 'field.mlp_base.model.0.hash_table' has shape \(4, 2\)"):
        read_checkpoint(path)
    torch.save({"step": 1, "pipeline": {"_model.field.aabb": torch.zeros(2, 3)}}, tmp_path / "empty.ckpt")
    with pytest.raises(ConversionError, match="empty.ckpt: no nerfacto field found"):
        read_checkpoint(tmp_path / "empty.ckpt")


def test_torch_implementation(tmp_path, weights):
    """implementation='torch' (docs/formats.md §2.4): nerfstudio's own hash table and nn.Linear layers with biases."""
    gen = torch.Generator().manual_seed(1)
    table = (torch.rand(16 * 2**19, 2, generator=gen) * 2 - 1) * 1e-3
    table[:1000] = torch.randn(1000, 2, generator=gen)
    layers = {"field.mlp_base.model.0.hash_table": table}
    for name, shapes in (("field.mlp_base.model.1.layers", [(64, 32), (16, 64)]),
                         ("field.mlp_head.layers", [(64, 63), (64, 64), (3, 64)])):  # fmt: skip
        for i, (o, n) in enumerate(shapes):
            layers[f"{name}.{i}.weight"] = torch.randn(o, n, generator=gen) * 0.2
            layers[f"{name}.{i}.bias"] = torch.randn(o, generator=gen) * 0.1
    state = {"_model." + k: v for k, v in layers.items()}
    state["_model.field.embedding_appearance.embedding.weight"] = weights["appearance"]
    path = tmp_path / "run" / "nerfstudio_models" / "step-000001000.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"step": 1000, "pipeline": state}, path)
    nerf = read_checkpoint(path)
    assert nerf.spec.hash_flavour == "nerfstudio_torch" and nerf.spec.mlp_biases
    assert torch.equal(nerf.tensors["head_bias.2"], layers["field.mlp_head.layers.2.bias"])
    graph = nerf_to_graph(nerf)
    assert graph.num_edges <= 200_000 and 0 in graph.grid_rows.tolist()
    kept = torch.zeros(table.shape[0], 1)
    kept[graph.grid_rows] = 1.0
    nerf.tensors["grid"] = nerf.tensors["grid"] * kept
    xyz = torch.rand(16, 3) * 2 - 1
    dirs = torch.nn.functional.normalize(torch.randn(16, 3), dim=-1)
    torch.testing.assert_close(
        graph_forward(graph, xyz, dirs), nerf.field().raw(xyz[None], dirs[None])[0], atol=1e-5, rtol=1e-5
    )

"""Training: losses run end to end, resume is bit-exact, torchrun (gloo) works on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from wsrl.encoder.checkpoint import load_encoder, load_run
from wsrl.errors import WsrlError
from wsrl.train.config import TrainConfig
from wsrl.train.trainer import train

TINY_TRAIN = dict(epochs=2, pairs_per_batch=4, rays=32, samples=8, archs=("mlp", "triplane", "hash"))


@pytest.mark.parametrize("loss", ["rec", "con", "rec+con"])
def test_each_loss_trains_and_writes_a_run(tiny_zoo, tmp_path, loss):
    out = tmp_path / "run"
    rows = train(tiny_zoo, out, TrainConfig(loss=loss, **TINY_TRAIN), progress=False)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(k in rows[0] for k in ("train_loss", "val_loss", "val_recall@1", "lr"))
    assert ("train_rec" in rows[0]) == ("rec" in loss) and ("train_con" in rows[0]) == ("con" in loss)
    assert (out / "metrics.csv").read_text().count("\n") == 3
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "config.json").read_text())["train"]["loss"] == loss
    assert ((out / "renders" / "epoch_0002.png").exists()) == ("rec" in loss)
    assert load_run(out / "best.pt")["epoch"] in (0, 1)
    encoder = load_encoder(out)
    assert not encoder.training


def test_resume_is_bit_exact(tiny_zoo, tmp_path):
    cfg = TrainConfig(loss="rec+con", **TINY_TRAIN)
    train(tiny_zoo, tmp_path / "straight", cfg, progress=False)
    train(tiny_zoo, tmp_path / "sliced", cfg, progress=False, until_epoch=1)
    assert load_run(tmp_path / "sliced" / "last.pt")["epoch"] == 0
    with pytest.raises(ValueError, match="--resume"):
        train(tiny_zoo, tmp_path / "sliced", cfg, progress=False)
    config_before = (tmp_path / "sliced" / "config.json").read_bytes()
    with pytest.raises(WsrlError, match=r"other settings than the run's: epochs 3 \(run: 2\), loss 'con'"):
        train(tiny_zoo, tmp_path / "sliced", replace(cfg, epochs=3, loss="con"), progress=False, resume=True)
    assert (tmp_path / "sliced" / "config.json").read_bytes() == config_before  # nothing rewritten
    (tmp_path / "sliced" / "metrics.jsonl").write_text("")  # killed after last.pt, before its metrics row
    train(tiny_zoo, tmp_path / "sliced", cfg, progress=False, resume=True)
    a = load_run(tmp_path / "straight" / "last.pt")["model"]
    b = load_run(tmp_path / "sliced" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (tmp_path / "sliced" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_torchrun_two_ranks_on_cpu(tiny_zoo, tmp_path):
    import socket

    out = tmp_path / "ddp"
    with socket.socket() as s:  # a free port: a fixed one may still be held by an earlier run
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "wsrl"]
    cmd += ["train", "--data", str(tiny_zoo), "--loss", "con", "--out", str(out), "--epochs", "1"]
    cmd += ["--pairs-per-batch", "3", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["step"] == 2  # 13 train objects, 3 pairs a batch: 4 batches, 2 per rank
    assert load_run(out / "last.pt")["epoch"] == 0


def test_embed_and_bench_cli(tiny_zoo, tmp_path, capsys):
    from wsrl.cli.main import main
    from wsrl.search.metrics import knn_accuracy
    from wsrl.search.protocol import retrieve
    from wsrl.search.store import EmbeddingStore

    emb = tmp_path / "emb.pt"
    assert main(["embed", "--untrained", "--data", str(tiny_zoo), "--reference", str(tiny_zoo), "--out", str(emb)]) == 0
    store = EmbeddingStore.load(emb)
    assert store.embeddings.shape == (39 * 3, 128) and store.archs == ["mlp", "triplane", "hash"]
    assert store.select("hash", "test").object_id == [line for line in (tiny_zoo / "test.txt").read_text().split()]
    assert main(["bench", "classify", str(emb), "--json", str(tmp_path / "c.json")]) == 0
    result = json.loads((tmp_path / "c.json").read_text())
    assert set(result["per_arch"]) == {"mlp", "triplane", "hash"} and result["unseen_mean"] is None
    assert main(["bench", "retrieve", str(emb), "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert len(result["pairs"]) == 9 and result["pairs"]["mlp->mlp"]["recall@1"] == 1.0  # same NeRFs: exact match
    assert 0.0 <= result["cross_arch_recall@1_mean"] <= 1.0
    # --split val scores the validation objects (classifiers still fitted on train)
    assert main(["bench", "classify", str(emb), "--split", "val", "--json", str(tmp_path / "v.json")]) == 0
    result = json.loads((tmp_path / "v.json").read_text())
    train, val = store.select("hash", "train"), store.select("hash", "val")
    assert val.object_id and result["split"] == "val"
    assert result["per_arch"]["hash"] == knn_accuracy(train.embeddings, train.label, val.embeddings, val.label)
    assert main(["bench", "retrieve", str(emb), "--split", "val", "--json", str(tmp_path / "rv.json")]) == 0
    pairs = json.loads((tmp_path / "rv.json").read_text())["pairs"]
    assert pairs["mlp->triplane"] == retrieve(store, split="val")["pairs"]["mlp->triplane"] != {}
    assert main(["embed", "--ckpt", str(tiny_zoo / "nothing"), "--data", str(tiny_zoo), "--out", str(emb)]) == 2
    assert "nothing" in capsys.readouterr().err


def test_augment_values_perturbs_only_values_and_leaves_the_input_intact():
    from torch_geometric.data import Batch

    from wsrl.graph.param_graph import ParamGraph
    from wsrl.train.trainer import augment_values

    attr = torch.cat([torch.linspace(-1.0, 1.0, 4000)[:, None], torch.arange(4000.0)[:, None].expand(-1, 5)], 1)
    one = ParamGraph(x=torch.zeros(2, 3), edge_index=torch.zeros(2, 4000, dtype=torch.long), edge_attr=attr.clone())
    graphs = Batch.from_data_list([one])
    a = augment_values(graphs, 0.2, torch.Generator().manual_seed(0))
    b = augment_values(graphs, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(a.edge_attr, b.edge_attr)  # deterministic for a generator
    assert torch.equal(graphs.edge_attr, attr)  # the cached graphs are not modified
    assert torch.equal(a.edge_attr[:, 1:], attr[:, 1:])  # layer, type, positions, ... unchanged
    ratio = a.edge_attr[:, 0] / attr[:, 0]
    assert abs(float((ratio - 1).std()) - 0.2) < 0.02 and abs(float((ratio - 1).mean())) < 0.02


def test_contrastive_loss_reads_a_projection_of_the_embedding():
    from wsrl.encoder.config import EncoderConfig
    from wsrl.encoder.gmn import batch_graphs
    from wsrl.graph.build import nerf_to_graph
    from wsrl.nerf.archs import get_arch
    from wsrl.nerf.checkpoint import unstack_field
    from wsrl.nerf.fields.field import RadianceField
    from wsrl.train.decoder import DECODER_PRESETS
    from wsrl.train.trainer import WeightSpaceModel

    nerfs = unstack_field(RadianceField.create(get_arch("mlp"), 4, seed=0))
    graphs, domain = batch_graphs([nerf_to_graph(n) for n in nerfs]), torch.zeros(4, dtype=torch.long)
    torch.manual_seed(0)
    enc, dec = EncoderConfig(width=8, depth=1, embedding=4), DECODER_PRESETS["mini"]
    model = WeightSpaceModel("con", enc, dec)
    before = model(graphs, domain, None, 8, torch.Generator())["con"]
    z = model.encoder(graphs, domain)
    with torch.no_grad():
        model.projector[0].weight.mul_(-3.0)
    assert not torch.allclose(model(graphs, domain, None, 8, torch.Generator())["con"], before)  # the loss reads it
    assert torch.equal(model.encoder(graphs, domain), z)  # the embedding does not
    assert WeightSpaceModel("con", enc, dec, projector=False).projector is None
    assert WeightSpaceModel("rec", enc, dec).projector is None  # no contrastive loss, nothing to project

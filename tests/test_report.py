"""Benchmark report: weight-statistics baseline, MLP probe, ``wsrl bench all`` and ``wsrl demo``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from wsrl.errors import WsrlError
from wsrl.graph.probe import PROBE_RESOLUTION
from wsrl.graph.schema import EDGE_TYPES
from wsrl.graph.statistics import GROUPS, STATS, weight_statistics
from wsrl.search.protocol import leave_one_out, paired_difference, retrieve
from wsrl.search.store import EmbeddingStore

REPORT_KEYS = {"knn_accuracy", "retrieval", "baselines"}


def _edges(values: list[float], layer: int, kind: str) -> torch.Tensor:
    v = torch.tensor(values)[:, None]
    meta = torch.tensor([float(layer), float(EDGE_TYPES[kind]), -1.0, -1.0, -1.0]).expand(len(values), 5)
    return torch.cat([v, meta], 1)


def test_weight_statistics_by_role():
    attr = torch.cat(
        [
            _edges([1.0, 2.0, 3.0, 4.0], 0, "hash"),
            _edges([-1.0, 1.0], 2, "linear"),
            _edges([0.5], 3, "linear"),
            _edges([10.0, 20.0], 4, "linear"),
            _edges([7.0], 2, "bias"),
        ]
    )
    f = weight_statistics(Data(edge_attr=attr)).reshape(len(GROUPS), len(STATS))
    row = {g: dict(zip(STATS, f[i].tolist(), strict=True)) for i, g in enumerate(GROUPS)}
    assert row["grid"]["mean"] == pytest.approx(2.5) and row["grid"]["q50"] == pytest.approx(2.5)
    assert row["grid"]["log_count"] == pytest.approx(np.log1p(4))
    assert row["first"]["mean_abs"] == pytest.approx(1.0) and row["first"]["mean"] == pytest.approx(0.0)
    assert row["middle"]["mean"] == pytest.approx(0.5) and row["last"]["std"] == pytest.approx(5.0)
    assert row["bias"]["mean"] == pytest.approx(7.0) and row["all"]["log_count"] == pytest.approx(np.log1p(10))
    mlp_only = weight_statistics(Data(edge_attr=attr[4:])).reshape(len(GROUPS), len(STATS))
    assert torch.all(mlp_only[GROUPS.index("grid")] == 0)  # no grid: a zero block, same length


def test_retrieval_means_over_all_and_over_seen_pairs():
    """Seen pairs (mlp, hash: what the run trained on, recorded in the store) match perfectly; pairs with the
    unseen mlp_sine never do."""
    gen = torch.Generator().manual_seed(0)
    objects = torch.nn.functional.normalize(torch.randn(6, 8, generator=gen), dim=1)
    archs = ("mlp", "hash", "mlp_sine")
    z = torch.cat([objects, objects, objects.roll(1, 0)])
    ids = [f"o{i}" for i in range(6)] * 3
    store = EmbeddingStore(
        z, ids, [0] * 18, [a for a in archs for _ in range(6)], ["test"] * 18, {"seen_archs": archs[:2]}
    )
    r = retrieve(store)
    assert r["seen_cross_arch_recall@1_mean"] == 1.0
    assert r["cross_arch_recall@1_mean"] == pytest.approx(2 / 6)  # 2 of the 6 ordered pairs
    assert retrieve(store, seen=("mlp_sine",))["seen_cross_arch_recall@1_mean"] is None  # no pair of seen archs


def test_leave_one_out_scores_every_nerf_against_the_others():
    """Four objects of two classes: x swaps the embeddings of o2 and o3 (same class: classification intact,
    retrieval of those two lost), y swaps o0 and o2 (across classes: every 1-NN class wrong)."""
    c0a, c0b, c1a, c1b = torch.tensor([[1, 0.1, 0, 0], [1, -0.1, 0, 0], [0, 0, 1, 0.1], [0, 0, 1, -0.1]])
    rows = {"mlp": [c0a, c0b, c1a, c1b], "x": [c0a, c0b, c1b, c1a], "y": [c1a, c0b, c0a, c1b]}
    store = EmbeddingStore(
        torch.stack([v for vs in rows.values() for v in vs]), [f"o{i}" for i in range(4)] * 3, [0, 0, 1, 1] * 3,
        [a for a in rows for _ in range(4)], ["train", "val", "test", "test"] * 3, {"seen_archs": ["mlp"]},
    )  # fmt: skip
    r = leave_one_out(store)
    assert r["per_arch"] == {"mlp": 1.0, "x": 1.0, "y": 0.0} and r["n_objects"] == 4
    assert r["pairs"]["mlp->x"] == r["pairs"]["x->mlp"] == 0.5
    assert r["per_object"]["unseen"] == [0.5] * 4 and r["standard_errors"]["unseen"] == 0.0
    assert r["means"]["seen"] == 1.0 and r["means"]["unseen"] == 0.5
    # per object over the six ordered pairs (mlp<->x: o0 o1 found; mlp<->y: o1 o3; x<->y: o1)
    assert r["per_object"]["recall@1"] == pytest.approx([1 / 3, 1, 0, 1 / 3])
    assert r["standard_errors"]["recall@1"] == pytest.approx(np.std([1 / 3, 1, 0, 1 / 3], ddof=1) / 2)
    assert all(d == {"mean": 0.0, "se": 0.0} for d in paired_difference(r, r).values())
    with pytest.raises(WsrlError, match="same .* objects in every architecture; 'y' differs"):
        leave_one_out(store.rows(list(range(11))))


def test_bench_all_writes_the_report(tiny_zoo, con_run, tmp_path, capsys):
    from wsrl.cli.main import main

    out = tmp_path / "report"
    assert main(["bench", "all", "--data", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert REPORT_KEYS <= set(results) and set(results["baselines"]) == {"untrained", "weight_statistics", "probe"}
    for r in [results, *results["baselines"].values()]:
        for key in ("knn_accuracy", "knn_from_seen", "mlp_accuracy", "mlp_from_seen"):
            assert {"per_arch", "seen_mean", "unseen_mean", "fit"} <= set(r[key])
            assert set(r[key]["per_arch"]) == {"mlp", "triplane", "hash"}
        assert len(r["retrieval"]["pairs"]) == 9 and "cross_arch_recall@1_mean" in r["retrieval"]
        assert {"recall@1", "recall@5", "recall@10"} <= set(r["retrieval"]["pairs"]["mlp->hash"])
    for name in ("tsne_class.png", "tsne_arch.png", "tsne_pooled_arch.png", "recall_heatmap.png", "retrieval.png",
                 "results.md"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert (out / "knn.csv").read_text().count("\n") == 1 + 4 * 3  # header + 4 methods x 3 archs
    assert (out / "retrieval.csv").read_text().count("\n") == 1 + 4 * 9
    printed = capsys.readouterr().out
    assert "weight_statistics" in printed and "probe" in printed and "results.md" in printed
    assert "MLP unseen*" in printed and "| MLP unseen, fitted on seen (%) |" in (out / "results.md").read_text()
    # the stores are plain embedding stores: the single benchmarks read them
    store = str(out / "embeddings" / "untrained.pt")
    assert main(["bench", "classify", store, "--probe", "mlp", "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["per_arch"] == results["baselines"]["untrained"][
        "mlp_accuracy"]["per_arch"]  # fmt: skip
    assert main(["bench", "classify", store, "--fit", "seen"]) == 0
    assert "fitted on the seen architectures" in capsys.readouterr().out
    again = tmp_path / "again"
    main(["bench", "all", "--data", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(again), "--no-mlp-probe"])
    second = json.loads((again / "results.json").read_text())
    assert "mlp_accuracy" not in second
    for key in ("knn_accuracy", "knn_from_seen", "retrieval"):  # same seed, same numbers
        assert second[key] == results[key]
        assert all(second["baselines"][m][key] == r[key] for m, r in results["baselines"].items())


def test_embed_baselines_cli(tiny_zoo, tmp_path):
    from wsrl.cli.main import main
    from wsrl.search.store import EmbeddingStore

    out, zoo = tmp_path / "stats.pt", ["--data", str(tiny_zoo), "--reference", str(tiny_zoo)]
    assert main(["embed", "--weight-statistics", *zoo, "--out", str(out)]) == 0
    store = EmbeddingStore.load(out)
    assert store.embeddings.shape == (39 * 3, len(GROUPS) * len(STATS))
    probe = tmp_path / "probe.pt"
    assert main(["embed", "--density-probe", *zoo, "--out", str(probe)]) == 0
    assert EmbeddingStore.load(probe).embeddings.shape == (39 * 3, 4 * PROBE_RESOLUTION**3)
    with pytest.raises(SystemExit):  # one source is required
        main(["embed", "--data", str(tiny_zoo), "--out", str(out)])


def test_demo_runs_every_step(con_run, tmp_path, monkeypatch, capsys):
    """``wsrl demo`` on a tiny preset: a zoo of another seed than the encoder's, the leave-one-out report with
    standard errors, an index and one search with its picture, a short run; then a rerun resumes."""
    from conftest import TINY

    from wsrl.cli.main import main
    from wsrl.zoo import build as zoo

    monkeypatch.setitem(zoo.PRESETS, "demo", TINY)
    out = tmp_path / "demo"
    command = ["demo", "--out", str(out), "--ckpt", str(con_run), "--epochs", "1"]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "demo finished" in printed and "| trained − probe |" in printed and "wsrl search" in printed
    assert "short run" in printed and "query " in printed
    manifest = json.loads((out / "zoo" / "manifest.json").read_text())
    assert manifest["preset"]["name"] == "tiny" and manifest["seed"] == 1 and len(manifest["archs"]) >= 13
    results = json.loads((out / "report" / "results.json").read_text())
    assert set(results["methods"]) == {"trained", "untrained", "weight_statistics", "probe"}
    trained = results["methods"]["trained"]
    assert set(trained["per_arch"]) == set(manifest["archs"]) and trained["n_objects"] == 39
    assert len(trained["per_object"]["unseen"]) == 39 and trained["standard_errors"]["recall@1"] > 0
    assert set(results["trained_minus"]) == {"untrained", "weight_statistics", "probe"}
    for name in ("search.png", "report/results.md", "report/tsne_class.png", "report/retrieval.png", "run/last.pt"):
        assert (out / name).stat().st_size > 0, name
    written = (out / "report" / "results.json").stat().st_mtime_ns
    assert main(command) == 0  # everything done: resumes, keeps the report, searches the same index
    again = capsys.readouterr().out
    assert "demo finished" in again and "| trained − probe |" in again
    assert (out / "report" / "results.json").stat().st_mtime_ns == written

"""A user's path end to end: checkpoints of mixed formats -> convert -> index -> search, and the Python API."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import wsrl
from wsrl.cli.main import main
from wsrl.encoder.config import MIN_POPULATION
from wsrl.errors import WsrlError
from wsrl.graph.collection import GraphCollection
from wsrl.nerf.archs import ArchSpec
from wsrl.nerf.checkpoint import load_nerf
from wsrl.nerf.fields.tcnn import tcnn_param_count, to_tcnn_params
from wsrl.nerf.layout import per_level_scale
from wsrl.search.index import NeRFIndex
from wsrl.search.store import EmbeddingStore

N = MIN_POPULATION  # NeRFs per format and architecture

NERFSTUDIO_CONFIG = """method_name: nerfacto
pipeline:
  model:
    hidden_dim: 16
    num_levels: 4
    base_res: 16
    max_res: 64
    log2_hashmap_size: 10
    num_layers: 2
    num_layers_color: 2
    hidden_dim_color: 16
    implementation: tcnn
"""


def small_nerfacto_spec() -> ArchSpec:
    """The field the config above describes, as wsrl's nerfstudio reader builds it (docs/formats.md §2.5)."""
    return ArchSpec(
        name="nerfacto", family="hash", scale="nerfstudio", hidden_width=16, hidden_layers=1, hash_levels=4,
        hash_features=2, hash_log2_table=10, hash_base_resolution=16, hash_per_level_scale=per_level_scale(16, 64, 4),
        n_outputs=16, input_pad_value=0.0, density_index=0, density_shift=0.0, head_layers=1, head_width=16,
        aabb=(-2.0,) * 3 + (2.0,) * 3,
    )  # fmt: skip


def write_nerfstudio_run(folder, seed: int, prefix: str = "_model.") -> None:
    """A small gen-3 nerfacto run folder: config.yml and nerfstudio_models/step-*.ckpt."""
    spec = small_nerfacto_spec()
    gen = torch.Generator().manual_seed(seed)
    n_net, n_grid = tcnn_param_count(spec)
    n_head = sum(o * i for o, i in spec.head_shapes)
    base = torch.cat([torch.randn(n_net, generator=gen) * 0.3, torch.randn(n_grid, generator=gen) * 0.1])
    pipeline = {
        f"{prefix}field.mlp_base.model.params": base,
        f"{prefix}field.mlp_head.tcnn_encoding.params": torch.randn(n_head, generator=gen) * 0.3,
    }
    (folder / "nerfstudio_models").mkdir(parents=True)
    (folder / "config.yml").write_text(NERFSTUDIO_CONFIG)
    torch.save({"step": 100, "pipeline": pipeline}, folder / "nerfstudio_models" / "step-000000100.ckpt")


@pytest.fixture(scope="module")
def checkpoints(tiny_zoo, tmp_path_factory):
    """A user's folder: N zoo mlp NeRFs as wsrl checkpoints and as nf2vec folders (twins), N small nerfstudio
    runs and their DDP-prefixed copies (twins). Returns the folder and each file's twin."""
    root = tmp_path_factory.mktemp("mine")
    zoo = GraphCollection(tiny_zoo)
    twins = {}
    for e in zoo.select("mlp")[:N]:
        nerf = load_nerf(e.source)
        own = root / "wsrl" / f"{e.id}.pt"
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(e.source, own)
        folder = root / "nf2vec" / "mlp" / "02691156" / e.id
        folder.mkdir(parents=True)
        torch.save({"mlp_base.params": to_tcnn_params(nerf.spec, nerf.tensors)}, folder / "nerf_weights.pth")
        twins[str(own)] = str(folder / "nerf_weights.pth")
    for i in range(N):
        a, b = root / "ns" / f"run{i}", root / "ns_ddp" / f"run{i}"
        write_nerfstudio_run(a, seed=i)
        write_nerfstudio_run(b, seed=i, prefix="_model.module.")
        twins[str(a / "nerfstudio_models" / "step-000000100.ckpt")] = str(
            b / "nerfstudio_models" / "step-000000100.ckpt"
        )
    twins.update({b: a for a, b in list(twins.items())})
    return root, twins


def test_convert_index_search_finds_each_twin(checkpoints, con_run, tmp_path, capsys):
    """Mixed formats and architectures through the CLI: every checkpoint's twin is among its two best hits
    (the query itself is the other), with the same embedding; the picture is written."""
    root, twins = checkpoints
    conv, index = tmp_path / "conv", tmp_path / "index"
    assert main(["convert", str(root), "--out", str(conv)]) == 0
    assert f"converted {4 * N}" in capsys.readouterr().out
    # nerfacto is not an architecture the encoder trained on: it is standardised against an explicit reference
    assert main(["index", "build", str(conv), "--ckpt", str(con_run), "--out", str(index)]) == 2
    assert "architecture(s) ['nerfacto']: no reference population" in capsys.readouterr().err
    build = ["index", "build", str(conv), "--ckpt", str(con_run), "--out", str(index)]
    assert main([*build, "--reference", str(conv)]) == 0
    assert f"{4 * N} NeRFs of 2 architecture(s)" in capsys.readouterr().out
    idx = NeRFIndex.open(index)
    assert sorted(idx.store.archs) == ["mlp", "nerfacto"] and len(idx.store) == 4 * N
    for query in sorted(twins)[:: N // 2]:
        picture = tmp_path / "hits.png"
        assert main(["search", str(index), "--nerf", query, "-k", "3", "--picture", str(picture)]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:5]]
        top_two = {r[-1] for r in rows[:2]}
        assert twins[query] in top_two, (query, rows)
        assert float(rows[1][1]) == pytest.approx(1.0, abs=1e-5)  # a twin's embedding equals the query's
        assert picture.stat().st_size > 1000


def test_index_add_appends_without_rebuilding_and_resumes(checkpoints, con_run, tiny_zoo, tmp_path, capsys):
    root, _ = checkpoints
    index = tmp_path / "index"
    assert main(["index", "build", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(index)]) == 0
    before = NeRFIndex.open(index).store
    assert main(["index", "add", str(index), str(root / "wsrl")]) == 0
    after = NeRFIndex.open(index).store
    assert len(after) == len(before) + N
    assert torch.equal(after.embeddings[: len(before)], before.embeddings)  # nothing rebuilt
    # a NeRF added alone embeds as its copy inside the zoo population (same graph, the zoo's moments)
    zoo_row = list(zip(before.object_id, before.arch, strict=True)).index((after.object_id[-1], "mlp"))
    torch.testing.assert_close(after.embeddings[-1], before.embeddings[zoo_row], atol=1e-5, rtol=0)
    capsys.readouterr()
    assert main(["index", "add", str(index), str(root / "wsrl")]) == 0  # rerun: nothing new
    assert "added 0" in capsys.readouterr().out and len(NeRFIndex.open(index).store) == len(after)
    # a new architecture, standardised against the index's own converted graphs of it
    assert main(["index", "add", str(index), str(root / "ns"), "--reference", str(index / "graphs")]) == 0
    assert "nerfacto" in NeRFIndex.open(index).store.archs
    (index / "faiss.index").unlink()  # a lost or stale FAISS file is rebuilt from the store
    assert main(["search", str(index), "--nerf", str(next((root / "wsrl").iterdir())), "-k", "2"]) == 0


def test_a_new_architecture_needs_a_population(checkpoints, con_run, tiny_zoo, tmp_path, capsys):
    root, _ = checkpoints
    index = tmp_path / "index"
    assert main(["index", "build", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(index)]) == 0
    one = root / "ns" / "run0"
    assert main(["index", "add", str(index), str(one)]) == 2
    assert "architecture(s) ['nerfacto']: no reference population" in capsys.readouterr().err
    assert main(["index", "add", str(index), str(one), "--reference", str(index / "graphs")]) == 2
    err = capsys.readouterr().err
    assert "population of 1 NeRF(s) is too small" in err and f"at least {MIN_POPULATION}" in err
    assert main(["search", str(index), "--nerf", str(one / "nerfstudio_models" / "step-000000100.ckpt")]) == 2
    assert "architecture 'nerfacto' is not in the index" in capsys.readouterr().err
    assert main(["index", "build", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(index)]) == 2
    assert "holds an index already" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "codes", "bytes_per_dim"),
    [(["--approximate"], "float32", None), (["--codes", "float16"], "float16", 2), (["--codes", "sq8"], "sq8", 1)],
    ids=["hnsw", "float16", "sq8"],
)
def test_index_prints_what_approximate_search_and_small_codes_lose(
    tiny_zoo, con_run, tmp_path, capsys, options, codes, bytes_per_dim
):  # fmt: skip
    index = tmp_path / "i"
    assert main(["index", "build", str(tiny_zoo), "--ckpt", str(con_run), "--out", str(index), *options]) == 0
    out = capsys.readouterr().out
    assert f"{codes} codes" in out and "recall@10 against exact float32 search" in out
    recall = float(out.rsplit(":", 1)[1])
    assert 0.9 <= recall <= 1.0
    opened = NeRFIndex.open(index)
    assert opened.codes == codes and opened.faiss().ntotal == len(opened.store)
    if bytes_per_dim:  # the file holds the codes: about bytes_per_dim per dimension, float32 would be 4
        n, dim = opened.store.embeddings.shape
        assert (index / "faiss.index").stat().st_size < n * dim * (bytes_per_dim + 0.5) + 4096
        top = opened.search(opened.store.embeddings, k=1)  # each NeRF still finds itself
        assert [h[0].row for h in top] == list(range(n))


def test_python_api_in_five_lines(checkpoints, con_run):
    """The README's snippet: checkpoints to nearest neighbours; architectures come from the graphs."""
    root, twins = checkpoints
    paths = sorted(twins)
    graphs = [wsrl.nerf_to_graph(wsrl.read_checkpoint(p)) for p in paths]
    encoder = wsrl.load_encoder(con_run)
    store = wsrl.embed(encoder, graphs, reference=graphs)  # nerfacto: unseen, so against a reference
    hits = store.search(list(range(len(paths))), k=1)
    assert [h[0].source for h in hits] == [twins[p] for p in paths]
    assert set(store.archs) == {"mlp", "nerfacto"} and store.seen_archs == ["mlp", "triplane", "hash"]
    assert graphs[0].arch == "mlp"  # a seen architecture: one NeRF alone embeds as inside the whole folder
    torch.testing.assert_close(wsrl.embed(encoder, graphs[:1]).embeddings[0], store.embeddings[0], atol=1e-5, rtol=0)
    nerfacto = [g for g in graphs if g.arch == "nerfacto"]
    with pytest.raises(WsrlError, match="no reference population"):
        wsrl.embed(encoder, nerfacto[:1])
    for few in (nerfacto[:1], nerfacto[:2]):  # never a degenerate vector: too small a reference is an error
        with pytest.raises(WsrlError, match=f"too small.*at least {MIN_POPULATION}"):
            wsrl.embed(encoder, few, reference=few)


def test_store_validates_what_it_holds(tmp_path):
    with pytest.raises(WsrlError, match="do not match its rows"):
        EmbeddingStore(torch.zeros(3, 4), ["a", "b"], [0, 0], ["x", "x"], ["", ""])
    with pytest.raises(WsrlError, match="NaN or Inf"):
        EmbeddingStore(torch.full((1, 4), float("nan")), ["a"], [0], ["x"], [""])
    store = EmbeddingStore(torch.eye(3), ["a", "b", "c"], [0, 1, 2], ["x"] * 3, [""] * 3)
    path = tmp_path / "e.pt"
    store.save(path)
    payload = torch.load(path, weights_only=True)
    payload["label"] = payload["label"][:2]
    torch.save(payload, path)
    with pytest.raises(WsrlError, match=r"e\.pt: .*do not match"):
        EmbeddingStore.load(path)
    json_path = tmp_path / "j.pt"
    json_path.write_text(json.dumps({"format": "wsrl.embeddings"}))
    with pytest.raises(WsrlError, match=r"j\.pt: cannot read as a weights-only torch file"):
        EmbeddingStore.load(json_path)

"""Readers (wsrl, nf2vec/gmnerf), bad input, and the ``wsrl convert`` batch job."""

import json
import pickle

import pytest
import torch
from wsrl.converters import ConversionError, read_checkpoint, read_module

from wsrl.cli.main import main
from wsrl.graph.build import nerf_to_graph
from wsrl.graph.files import load_shard
from wsrl.graph.forward import graph_forward
from wsrl.graph.schema import SCHEMA_VERSION
from wsrl.nerf.archs import get_arch
from wsrl.nerf.checkpoint import save_nerf, unstack_field
from wsrl.nerf.fields.encodings import frequency_encode
from wsrl.nerf.fields.field import RadianceField
from wsrl.nerf.fields.tcnn import tcnn_param_count, to_tcnn_params


def nf2vec_state(name, scale="paper", seed=0):
    """A NeRF and its nerf_weights.pth dict as nf2vec/gmnerf write it (docs/formats.md §3.2)."""
    spec = get_arch(name, scale)
    nerf = unstack_field(RadianceField.create(spec, 1, seed=seed))[0]
    flat = to_tcnn_params(spec, nerf.tensors)
    n_net, _ = tcnn_param_count(spec)
    state = {"mlp_base.params": flat[:n_net].clone()}
    if spec.family == "hash":
        state["encoding.params"] = flat[n_net:].clone()
    if spec.family == "triplane":
        state["triplane"] = nerf.tensors["planes"].clone()
        state["encoding.params"] = torch.zeros(0)
    return nerf, state


def write_nf2vec(root, arch_folder, synset, ident, state):
    path = root / arch_folder / synset / ident / "nerf_weights.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", ["mlp", "triplane", "hash"])
def test_nf2vec_round_trip(tmp_path, name):
    nerf, state = nf2vec_state(name)
    path = write_nf2vec(tmp_path, name, "02691156", "abc", state)
    back = read_checkpoint(path.parent)  # folder or file both work
    assert back.spec == nerf.spec
    assert all(torch.equal(back.tensors[k], nerf.tensors[k]) for k in nerf.tensors)
    assert back.meta["class_label"] == 0 and back.meta["object_id"] == "02691156/abc"


def test_nf2vec_architecture_from_sizes_or_flag(tmp_path):
    _, state = nf2vec_state("hash")
    path = tmp_path / "loose.pth"
    torch.save(state, path)
    assert read_checkpoint(path).spec.name == "hash"  # unique match by size
    _, state = nf2vec_state("mlp")  # mlp and mlp_sine have identical sizes
    torch.save(state, path)
    with pytest.raises(ConversionError, match="cannot tell the architecture.*mlp@paper, mlp_sine@paper"):
        read_checkpoint(path)
    assert read_checkpoint(path, arch="mlp_sine").spec.activation == "sine"
    expects = r"'mlp_base.params' has 18432 elements, arch 'hash' expects 3072 \(mini\) or 10240 \(paper\)"
    with pytest.raises(ConversionError, match=expects):
        read_checkpoint(path, arch="hash")
    with pytest.raises(ConversionError, match="unknown architecture 'nope'"):
        read_checkpoint(path, arch="nope")


def _corruptions():
    return {
        "missing": (lambda s: s.pop("encoding.params"), "tensor 'encoding.params' missing"),
        "shape": (lambda s: s.__setitem__("encoding.params", torch.zeros(100)), "tensor 'encoding.params' has shape"),
        "nan": (lambda s: s["mlp_base.params"].__setitem__(3, float("inf")), "tensor 'mlp_base.params' contains NaN"),
        "dtype": (lambda s: s.__setitem__("mlp_base.params", torch.zeros(10240, dtype=torch.long)), "dtype"),
    }


@pytest.mark.parametrize("case", sorted(_corruptions()))
def test_bad_tensors_name_file_and_tensor(tmp_path, case):
    corrupt, message = _corruptions()[case]
    _, state = nf2vec_state("hash")
    corrupt(state)
    path = write_nf2vec(tmp_path, "hash", "02691156", "x", state)
    with pytest.raises(ConversionError, match=message) as info:
        read_checkpoint(path, arch="hash")
    assert str(path) in str(info.value)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_bad_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"mlp_base.params": _Payload()}))
    _, state = nf2vec_state("mlp")
    cut = tmp_path / "cut.pt"
    torch.save(state, cut)
    cut.write_bytes(cut.read_bytes()[:200])
    unknown = tmp_path / "unknown.pt"
    torch.save({"weights": torch.zeros(3)}, unknown)
    evil_zip = tmp_path / "evil_zip.pt"  # torch.save's format: the refusal names the callable it blocked
    torch.save({"mlp_base.params": _Payload()}, evil_zip)
    for path, message in [
        (text, "not a weights-only"),
        (evil, "not a weights-only"),
        (evil_zip, "not a weights-only .*GLOBAL print was not an allowed global"),
        (cut, "not a weights-only"),
        (unknown, "unrecognised checkpoint"),
    ]:
        with pytest.raises(ConversionError, match=message) as info:
            read_checkpoint(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_convert_batch_reports_failures_and_resumes(tmp_path, capsys, monkeypatch):
    from wsrl.graph import convert

    monkeypatch.setattr(convert, "JOBS_PER_WORKER", 2)  # 5 files: two worker processes, as on a larger machine
    monkeypatch.setattr(convert.os, "cpu_count", lambda: 8)
    src = tmp_path / "src"
    nerfs = {}
    for i, name in enumerate(["mlp", "triplane", "hash"]):
        nerf, state = nf2vec_state(name, seed=i)
        nerfs[f"02958343/{name}{i}"] = nerf
        write_nf2vec(src, name, "02958343", f"{name}{i}", state)
    (src / "train.txt").write_text("02958343/mlp0\n02958343/triplane1\n")
    (src / "test.txt").write_text("02958343/hash2\n")
    wsrl_nerf = unstack_field(RadianceField.create(get_arch("hash_feat4"), 1, seed=9), [{"object_id": "own"}])[0]
    save_nerf(src / "own.pt", wsrl_nerf)
    (src / "broken.pth").write_text("not a checkpoint")
    out = tmp_path / "graphs"
    args = ["convert", str(src), "--out", str(out), "--workers", "2", "--shard-size", "2"]
    assert main(args) == 1
    printed = capsys.readouterr().out
    assert "converted 4, skipped 0 already converted, failed 1 (2 worker processes)" in printed
    assert "FAILED" in printed and "broken.pth" in printed
    graphs = [g for shard in sorted(out.glob("shard_*.pt")) for g in load_shard(shard)]
    assert sorted(g.object_id for g in graphs) == sorted([*nerfs, "own"])
    older = torch.load(next(out.glob("shard_*.pt")), weights_only=True)
    torch.save({**older, "version": SCHEMA_VERSION - 1}, tmp_path / "older.pt")
    with pytest.raises(ValueError, match=rf"older\.pt: wsrl graph file of version {SCHEMA_VERSION - 1}.*convert"):
        load_shard(tmp_path / "older.pt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other\.pt: not a wsrl graph file"):
        load_shard(tmp_path / "other.pt")
    xyz = torch.rand(32, 3) * 1.4 - 0.7
    for g in graphs:
        nerf = nerfs.get(g.object_id, wsrl_nerf)
        torch.testing.assert_close(graph_forward(g, xyz), nerf.field().raw(xyz[None])[0], atol=1e-5, rtol=0)
    assert g.class_label in (3, -1)
    index = json.loads((out / "index.json").read_text())
    assert {row["id"]: row["split"] for row in index} == {
        "02958343/mlp0": "train",
        "02958343/triplane1": "train",
        "02958343/hash2": "test",
        "own": "",
    }
    assert {row["id"]: row["class_label"] for row in index}["02958343/hash2"] == 3
    # rerun: nothing new is converted, the broken file is reported again
    assert main(args) == 1
    assert "converted 0, skipped 4 already converted, failed 1" in capsys.readouterr().out
    assert len(list(out.glob("shard_*.pt"))) == 2 and not list(out.glob("*.tmp"))


def test_workers_are_started_only_where_they_pay(monkeypatch):
    from wsrl.graph import convert

    monkeypatch.setattr(convert.os, "cpu_count", lambda: 2)
    assert convert.usable_workers(4, 100_000) == 1  # 2 cores: the main process, and no worker beside it
    monkeypatch.setattr(convert.os, "cpu_count", lambda: 16)
    assert convert.usable_workers(4, 100) == 1  # too few checkpoints to pay for starting a worker
    assert convert.usable_workers(4, 6 * convert.JOBS_PER_WORKER) == 4
    assert convert.usable_workers(8, 3 * convert.JOBS_PER_WORKER) == 3


class Sine(torch.nn.Module):
    def forward(self, x):
        return torch.sin(x)


def test_plain_sequential_module_and_state_dict(tmp_path):
    torch.manual_seed(0)
    relu_net = torch.nn.Sequential(
        torch.nn.Linear(24, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)
    )
    sine_net = torch.nn.Sequential(torch.nn.Linear(3, 16), Sine(), torch.nn.Linear(16, 4))
    xyz = torch.rand(40, 3) * 1.4 - 0.7
    x01 = (xyz + 0.7) / 1.4
    for net, inputs in ((relu_net, frequency_encode(x01[None], 4)[0]), (sine_net, x01)):
        nerf = read_module(net)
        graph = nerf_to_graph(nerf)
        with torch.no_grad():
            expected = net(inputs)
        torch.testing.assert_close(nerf.field().raw(xyz[None])[0], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(graph_forward(graph, xyz), expected, atol=1e-5, rtol=1e-5)
    assert read_module(sine_net).spec.activation == "sine"
    path = tmp_path / "mlp.pt"
    torch.save(relu_net.state_dict(), path)
    nerf = read_checkpoint(path)
    assert nerf.meta["format"] == "sequential" and nerf.meta["activation_assumed"]
    assert torch.equal(nerf.tensors["mlp_bias.2"], relu_net[4].bias.detach())
    assert nerf.spec.name == "sequential" and read_checkpoint(path, arch="my_mlp").spec.name == "my_mlp"  # named
    with pytest.raises(ConversionError, match="'mlp' is a registered architecture"):  # not silently ignored
        read_checkpoint(path, arch="mlp")
    bad = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    with pytest.raises(ConversionError, match="first Linear has 5 inputs"):
        read_module(bad)
    with pytest.raises(ConversionError, match=r"activations \['Tanh'\]"):
        read_module(torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4)))


def test_an_architecture_registered_later_is_recognised_by_its_sizes(tmp_path):
    import dataclasses

    from wsrl.nerf.archs import ARCHS, register_arch

    spec = dataclasses.replace(get_arch("mlp", "paper"), name="mlp_96units", hidden_width=96)
    nerf = unstack_field(RadianceField.create(spec, 1, seed=0))[0]
    path = write_nf2vec(tmp_path, "mine", "02958343", "a", {"mlp_base.params": to_tcnn_params(spec, nerf.tensors)})
    with pytest.raises(ConversionError, match="cannot tell the architecture from tensor sizes"):
        read_checkpoint(path)  # the size look-up is cached from here on
    register_arch(spec)
    try:
        assert read_checkpoint(path).spec.name == "mlp_96units"
    finally:
        del ARCHS["paper"]._items["mlp_96units"]

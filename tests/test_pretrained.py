"""Pretrained encoders in the Hugging Face layout: save, load by folder and by shipped name, same embeddings."""

import json
from pathlib import Path

import pytest
import torch

import wsrl.encoder.pretrained as pretrained
from wsrl.encoder.checkpoint import encoder_ref, is_encoder, load_encoder
from wsrl.errors import WsrlError
from wsrl.graph.collection import GraphCollection
from wsrl.search.store import embed


def test_pretrained_folder_reproduces_the_run(con_run, tiny_zoo, tmp_path, monkeypatch):
    run_encoder, data = load_encoder(con_run), GraphCollection(tiny_zoo)
    folder = pretrained.save_pretrained(run_encoder, tmp_path / "wsrl-test", "# wsrl-test\n")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text())["format"] == "wsrl.encoder"
    assert not (tmp_path / "wsrl-test.tmp").exists()
    graphs = [data.graph(arch, data.ids("test")[0]) for arch in data.archs]
    expected = embed(run_encoder, graphs).embeddings
    torch.testing.assert_close(embed(load_encoder(folder), graphs).embeddings, expected, atol=0, rtol=0)
    # a shipped name loads from the package's weights folder, and is recorded as the name
    monkeypatch.setattr(pretrained, "SHIPPED", tmp_path)
    assert pretrained.pretrained_names() == ["wsrl-test"]
    assert encoder_ref("wsrl-test") == "wsrl-test" and is_encoder("wsrl-test")
    by_name = load_encoder("wsrl-test")
    assert by_name.trained_archs == run_encoder.trained_archs
    torch.testing.assert_close(embed(by_name, graphs).embeddings, expected, atol=0, rtol=0)


def test_bad_pretrained_folders(con_run, tmp_path):
    folder = pretrained.save_pretrained(load_encoder(con_run), tmp_path / "enc", "card")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(WsrlError, match="model.safetensors: unreadable safetensors file"):
        load_encoder(folder)
    (folder / "config.json").write_text('{"format": "other"}')
    with pytest.raises(WsrlError, match="config.json: not a wsrl pretrained encoder"):
        load_encoder(folder)
    encoder = load_encoder(con_run)
    encoder.norms = {}
    with pytest.raises(WsrlError, match="without readout moments"):
        pretrained.save_pretrained(encoder, tmp_path / "none", "card")


def test_export_writes_a_card_whose_command_reproduces_the_run(con_run, tiny_zoo, tmp_path, capsys):
    from dataclasses import asdict

    from wsrl.cli.main import build_parser, main
    from wsrl.cli.pipeline import train_config

    assert main(["export", str(con_run), "--out", str(tmp_path / "wsrl-tiny"), "--data", str(tiny_zoo)]) == 0
    assert "MB (load with --ckpt" in capsys.readouterr().out
    card = (tmp_path / "wsrl-tiny" / "README.md").read_text()
    facts = json.loads((tmp_path / "wsrl-tiny" / "config.json").read_text())["card"]
    assert "data seed 0, independent initialisation" in card and facts["train_command"] in card
    assert "# wsrl-tiny" in card and 'wsrl.load_encoder("wsrl-tiny")' in card
    # the card's command, parsed by wsrl's own parser, gives back the run's TrainConfig
    args = build_parser().parse_args(facts["train_command"].split()[1:])
    rebuilt = train_config(args)
    run_config = json.loads((con_run / "config.json").read_text())["train"]
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(rebuilt).items()} == run_config
    # the demo refuses a zoo seed the encoder trained on (its objects were seen)
    assert main(["demo", "--ckpt", str(tmp_path / "wsrl-tiny"), "--seed", "0", "--out", str(tmp_path / "d")]) == 2
    assert "was trained on the zoo of this seed" in capsys.readouterr().err


def test_shipped_wsrl_mini_reproduces_its_recorded_embeddings():
    """The encoder in the package gives three held-out NeRFs (seed-1 demo objects) the embeddings recorded by
    ``tests/fixtures/pretrained/record.py``, each NeRF embedded alone or with the others."""
    import wsrl

    here = Path(__file__).parent / "fixtures" / "pretrained"
    expected = json.loads((here / "expected.json").read_text())
    encoder = wsrl.load_encoder("wsrl-mini")
    assert encoder.trained_archs == ("mlp", "triplane", "hash")
    graphs = [wsrl.nerf_to_graph(wsrl.read_checkpoint(here / f"{name}.pt")) for name in expected]
    together = wsrl.embed(encoder, graphs).embeddings
    torch.testing.assert_close(together, torch.tensor(list(expected.values())), atol=2e-5, rtol=0)
    alone = torch.cat([wsrl.embed(encoder, [g]).embeddings for g in graphs])
    torch.testing.assert_close(alone, together, atol=1e-6, rtol=0)

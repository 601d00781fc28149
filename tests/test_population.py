"""Inductive embeddings: a trained encoder stores its training split's moments, so one NeRF embeds alone as it
does inside its zoo; other architectures are standardised only against an explicit reference population."""

from __future__ import annotations

import pytest
import torch

from wsrl.cli.main import main
from wsrl.encoder.checkpoint import load_encoder, load_run
from wsrl.encoder.config import ENCODER_PRESETS, MIN_POPULATION
from wsrl.encoder.gmn import untrained_encoder
from wsrl.encoder.population import embed_with_norms, population_norms
from wsrl.errors import WsrlError
from wsrl.files import envelope, save_torch
from wsrl.graph.collection import GraphCollection
from wsrl.search.store import EmbeddingStore, embed, embed_collection, probe_collection


def test_checkpoint_stores_the_training_split_moments(con_run, tiny_zoo):
    encoder, data = load_encoder(con_run), GraphCollection(tiny_zoo)
    assert sorted(encoder.norms) == sorted(encoder.trained_archs)
    train_ids = set(data.ids("train"))
    for arch in encoder.trained_archs:
        population = data.population(arch)
        assert len(population) == len(train_ids) and {g.object_id for g in population} == train_ids
        for stored, fresh in zip(encoder.norms[arch], population_norms(encoder, arch, population), strict=True):
            torch.testing.assert_close(stored, fresh, atol=1e-6, rtol=1e-5)


def test_one_nerf_alone_embeds_as_inside_its_zoo(con_run, tiny_zoo):
    encoder, data = load_encoder(con_run), GraphCollection(tiny_zoo)
    store = embed_collection(encoder, data)  # every architecture seen: no reference needed
    for row in (0, len(store) // 2, len(store) - 1):
        graph = data.graph(store.arch[row], store.object_id[row])
        alone = embed(encoder, [graph]).embeddings[0]
        torch.testing.assert_close(alone, store.embeddings[row], atol=1e-5, rtol=0)
        assert alone.norm() > 1.0  # not the zero vector of a population of one
    # the test split is embedded without its own rows shaping anything: a subset embeds to the same rows
    test_rows = [i for i, s in enumerate(store.split) if s == "test"]
    subset = embed(encoder, [data.graph(store.arch[i], store.object_id[i]) for i in test_rows])
    torch.testing.assert_close(subset.embeddings, store.embeddings[test_rows], atol=1e-5, rtol=0)


def test_unseen_architectures_need_an_explicit_reference(tiny_zoo):
    data = GraphCollection(tiny_zoo)
    encoder = untrained_encoder(ENCODER_PRESETS["mini"])  # no stored moments at all
    with pytest.raises(WsrlError, match=r"no reference population .*--reference COLLECTION"):
        embed_collection(encoder, data)
    store = embed_collection(encoder, data, reference=data)
    assert set(store.norms) == set(data.archs)
    # a population of 1 or 2 is an error naming the minimum, never a degenerate vector
    mlp = data.graphs("mlp")
    for few in (mlp[:1], mlp[:2]):
        with pytest.raises(WsrlError, match=f"population of {len(few)} NeRF.*at least {MIN_POPULATION}"):
            embed(encoder, few, reference=few)
    # the reference's moments, not the rows embedded: one NeRF against the zoo equals its row
    alone = embed_with_norms(encoder, mlp[:1], store.norms)[0]
    torch.testing.assert_close(alone, store.embeddings[0], atol=1e-5, rtol=0)


def test_baselines_are_standardised_against_the_train_split(tiny_zoo):
    data = GraphCollection(tiny_zoo, ["mlp"])
    store = probe_collection(data, data)
    train = [i for i, s in enumerate(store.split) if s == "train"]
    z = store.embeddings
    assert torch.allclose(z[train].mean(0), torch.zeros(z.shape[1]), atol=1e-4)  # train rows centred
    assert z[[i for i in range(len(store)) if i not in train]].mean(0).abs().max() > 1e-3  # others are not forced


def test_old_runs_without_moments_embed_against_a_reference(con_run, tiny_zoo, tmp_path, capsys):
    """A run checkpoint from before stored moments (wsrl 0.2.0) is usable with --reference."""
    payload = load_run(con_run)
    del payload["norms"]
    save_torch(tmp_path / "old.pt", envelope(payload.pop("format"), payload.pop("version"), payload))
    out = tmp_path / "e.pt"
    args = ["embed", "--ckpt", str(tmp_path / "old.pt"), "--data", str(tiny_zoo), "--out", str(out)]
    assert main(args) == 2
    assert "no reference population" in capsys.readouterr().err
    assert main([*args, "--reference", str(tiny_zoo)]) == 0
    old = EmbeddingStore.load(out).embeddings
    assert main(["embed", "--ckpt", str(con_run), "--data", str(tiny_zoo), "--out", str(out)]) == 0
    torch.testing.assert_close(EmbeddingStore.load(out).embeddings, old, atol=1e-5, rtol=0)  # same train split
    assert main(["embed", "--density-probe", "--data", str(tiny_zoo), "--out", str(out)]) == 2
    assert "pass --reference COLLECTION" in capsys.readouterr().err

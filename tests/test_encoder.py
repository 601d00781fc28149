"""The GMN encoder, the losses, the decoder and the pair sampler."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch

from wsrl.encoder import gmn
from wsrl.encoder.config import ENCODER_PRESETS, EncoderConfig
from wsrl.encoder.gmn import GMNEncoder, batch_graphs, embed_graphs, pool_graphs, standardize_values
from wsrl.encoder.standardize import apply_moments, domain_groups, standardize_moments
from wsrl.graph.build import nerf_to_graph
from wsrl.graph.statistics import STATS_DIM, STATS_EPS, STATS_REL_EPS, weight_statistics
from wsrl.nerf.archs import get_arch
from wsrl.nerf.checkpoint import NeRF, stack_fields, unstack_field
from wsrl.nerf.fields.field import RadianceField
from wsrl.search.metrics import knn_accuracy, precision_at_k, recall_at_k
from wsrl.train.decoder import ImplicitDecoder
from wsrl.train.losses import SigLIPLoss, rendering_loss
from wsrl.train.sampler import PairSampler


def _nerf(arch: str, seed: int = 0) -> NeRF:
    return unstack_field(RadianceField.create(get_arch(arch), 1, seed=seed))[0]


def _permute_hidden(nerf: NeRF, layer: int, perm: torch.Tensor) -> NeRF:
    """Permute the neurons of hidden layer ``layer``: rows of ``mlp.layer``, columns of ``mlp.layer+1``."""
    t = dict(nerf.tensors)
    t[f"mlp.{layer}"] = t[f"mlp.{layer}"][perm]
    t[f"mlp.{layer + 1}"] = t[f"mlp.{layer + 1}"][:, perm]
    return NeRF(nerf.spec, t, nerf.meta)


@pytest.mark.parametrize("probes", [0, 3], ids=["plain", "node-probes"])
@pytest.mark.parametrize("arch", ["mlp", "triplane", "hash"])
def test_embedding_is_invariant_to_hidden_neuron_permutations(arch, probes):
    torch.manual_seed(0)
    cfg = EncoderConfig(width=16, depth=2, embedding=8, node_probes=probes, output_readout=bool(probes))
    encoder = GMNEncoder(cfg).eval()
    nerf, *others = [_nerf(arch, seed) for seed in range(4)]  # embeddings are defined for a population
    perm_nerf = nerf
    gen = torch.Generator().manual_seed(1)
    for layer in range(len(nerf.spec.mlp_shapes) - 1):
        perm_nerf = _permute_hidden(perm_nerf, layer, torch.randperm(nerf.spec.hidden_width, generator=gen))
    xyz = torch.rand(1, 64, 3) * 1.4 - 0.7
    same_function = torch.allclose(stack_fields([nerf]).raw(xyz), stack_fields([perm_nerf]).raw(xyz), atol=1e-5)
    assert same_function, "the permutation must not change the NeRF"
    assert not torch.equal(nerf.tensors["mlp.1"], perm_nerf.tensors["mlp.1"])

    # the per-graph part, in float32
    pa, pb = pool_graphs(encoder, [nerf_to_graph(nerf)]), pool_graphs(encoder, [nerf_to_graph(perm_nerf)])
    assert torch.allclose(pa, pb, atol=1e-5), (pa - pb).abs().max()
    # the embedding in float64: standardising over a population of four NeRFs scales float32 rounding up
    encoder.double()

    def embed(first: NeRF) -> torch.Tensor:
        graphs = [nerf_to_graph(n) for n in (first, *others)]
        batch_graphs(graphs, probes)  # node probe features from the float32 graphs, kept on them
        for g in graphs:
            g.edge_attr = g.edge_attr.double()
        return embed_graphs(encoder, graphs)

    a, b = embed(nerf), embed(perm_nerf)
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    noise = torch.randn(nerf.tensors["mlp.1"].shape, generator=gen)
    changed = NeRF(nerf.spec, {**nerf.tensors, "mlp.1": nerf.tensors["mlp.1"] + 0.3 * noise}, {})
    assert (a[0] - embed(changed)[0]).abs().max() > 1e-4  # 10x the tolerance above: a different NeRF moves


def test_embeddings_do_not_depend_on_batching():
    torch.manual_seed(0)
    encoder = GMNEncoder(ENCODER_PRESETS["mini"]).eval()
    archs = ("hash", "mlp", "triplane")  # hash first: graphs with extra attributes batch with the others
    graphs = [nerf_to_graph(_nerf(a, seed)) for a in archs for seed in range(3)]
    domain = torch.arange(3).repeat_interleave(3)
    with torch.no_grad():
        single = torch.cat([encoder.pool(g) for g in graphs])
        assert torch.allclose(encoder.pool(Batch.from_data_list(graphs[3:])), single[3:], atol=1e-5)
        whole = embed_graphs(encoder, graphs, domain)
    assert whole.shape == (9, ENCODER_PRESETS["mini"].embedding)
    assert torch.allclose(embed_graphs(encoder, graphs, domain, batch_size=2), whole, atol=1e-5)
    # per-architecture populations: embedding one architecture alone gives its rows of the whole
    assert torch.allclose(embed_graphs(encoder, graphs[3:6]), whole[3:6], atol=1e-4)


@pytest.mark.parametrize("chunk", [97, 1 << 20], ids=["many-chunks", "one-chunk"])
def test_chunked_inference_computes_what_training_computes(monkeypatch, chunk):
    """Without autograd the encoder runs chunk by chunk, in place; its pooled rows and the parameters' gradients
    are those of the one-pass autograd forward."""
    monkeypatch.setattr(gmn, "CHUNK_ROWS", chunk)  # 97: chunks end mid-graph and mid-layer, the last one short
    torch.manual_seed(0)
    cfg = EncoderConfig(width=16, depth=3, embedding=8, node_probes=2, output_readout=True)
    encoder = GMNEncoder(cfg).eval()
    batch = batch_graphs([nerf_to_graph(_nerf(a, seed)) for a in ("hash", "mlp", "triplane") for seed in range(2)], 2)
    with torch.no_grad():
        fast = encoder.pool(batch)
    with torch.enable_grad():
        reference = encoder.pool(batch)
    assert torch.allclose(fast, reference.detach(), atol=1e-5), (fast - reference).abs().max()
    reference.square().sum().backward()  # the autograd path is still one differentiable graph
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.blocks.parameters())


def test_per_domain_standardize_removes_architecture_offsets():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=gen)
    domain = torch.tensor([0] * 5 + [3] * 7)
    group = domain_groups(domain, 12)
    z, moments = standardize_moments(x, group)
    for d in (0, 3):
        rows = z[domain == d]
        assert torch.allclose(rows.mean(0), torch.zeros(5), atol=1e-5)
        assert torch.allclose(rows.var(0, unbiased=False), torch.ones(5), atol=1e-3)
    assert torch.allclose(apply_moments(x, moments, group), z, atol=1e-6)  # stored moments: the same rows
    shifted = x + torch.where(domain[:, None] == 3, 100.0, -7.0) * torch.ones(5)
    assert torch.allclose(standardize_moments(shifted, group)[0], z, atol=1e-4)
    # features of tiny natural scale (hash-entry statistics) survive the relative floor, constants go to 0
    tiny = torch.cat([1e-4 + 1e-6 * x, torch.full((12, 1), 3.7)], 1)
    out = standardize_moments(tiny, group, STATS_EPS, STATS_REL_EPS)[0]
    assert torch.allclose(out[:, :5], z, atol=1e-3) and out[:, 5].abs().max() < 1e-2
    assert standardize_moments(tiny, group)[0][:, :5].abs().max() < 1e-2  # the default floor flattens them


def test_encoder_standardises_each_architecture_over_its_own_population():
    """The readout's output is standardised per architecture: each population's embeddings have zero mean and
    unit variance per column, an architecture-wide offset of its pooled features changes nothing, and stored
    moments reproduce a population's rows one NeRF at a time."""
    torch.manual_seed(0)
    encoder = GMNEncoder(EncoderConfig(width=16, depth=2, embedding=8)).eval()
    graphs = [nerf_to_graph(_nerf(a, seed)) for a in ("mlp", "hash") for seed in range(6)]
    domain = torch.arange(2).repeat_interleave(6)
    with torch.no_grad():
        pooled = encoder.pool(batch_graphs(graphs))
        z, norms = encoder.readout(pooled, domain)
        for d in (0, 1):
            rows = z[domain == d]
            assert torch.allclose(rows.mean(0), torch.zeros(8), atol=1e-5)
            assert torch.allclose(rows.var(0, unbiased=False), torch.ones(8), atol=1e-2)
        offset = torch.where(domain[:, None] == 1, 5.0, -3.0) * torch.ones(pooled.shape[1])
        offset[:, 2 * 16 :] = 0  # the pooled edge features (statistics have a floor relative to their mean)
        assert torch.allclose(encoder.readout(pooled + offset, domain)[0], z, atol=1e-3)
        alone = [encoder.readout(pooled[i : i + 1], domain[i : i + 1], norms)[0] for i in range(12)]
    assert torch.allclose(torch.cat(alone), z, atol=1e-5)


def test_log_rms_of_each_parameter_group_reaches_the_encoder():
    """Values enter standardised per (graph, layer, type) group, so scaling a layer only shows through the
    group's log-RMS column: it moves by log(c), and the pooled features (statistics off) change."""
    nerf = _nerf("mlp")
    scaled = NeRF(nerf.spec, {**nerf.tensors, "mlp.1": 3.0 * nerf.tensors["mlp.1"]}, {})
    g, h = nerf_to_graph(nerf), nerf_to_graph(scaled)
    zeros = torch.zeros(g.num_edges, dtype=torch.long)
    a, b = standardize_values(g.edge_attr, zeros), standardize_values(h.edge_attr, zeros)
    layer1 = (g.edge_attr[:, 1] == 3) & (g.edge_attr[:, 2] == 0)  # the edges of mlp.1 (target layer 3)
    assert layer1.sum() == 32 * 32
    assert torch.allclose(a[:, 0], b[:, 0], atol=1e-5)  # standardised values: unchanged
    assert torch.allclose(b[layer1, 6] - a[layer1, 6], torch.full((1024,), math.log(3.0)), atol=1e-5)
    assert torch.equal(a[~layer1, 6], b[~layer1, 6])
    torch.manual_seed(0)
    encoder = GMNEncoder(EncoderConfig(width=16, depth=2, embedding=8, statistics=False)).eval()
    with torch.no_grad():
        assert (encoder.pool(g) - encoder.pool(h)).abs().max() > 1e-4


def test_readout_reads_the_weight_statistics():
    torch.manual_seed(0)
    graphs = [nerf_to_graph(_nerf("hash", seed)) for seed in range(3)]
    with_stats = GMNEncoder(EncoderConfig(width=8, depth=1, embedding=4)).eval()
    width = with_stats.config.width
    with torch.no_grad():
        pooled = with_stats.pool(batch_graphs(graphs))
    assert pooled.shape == (3, 2 * width + STATS_DIM)
    assert torch.allclose(pooled[:, 2 * width :], torch.stack([weight_statistics(g) for g in graphs]))
    without = GMNEncoder(EncoderConfig(width=8, depth=1, embedding=4, statistics=False)).eval()
    with torch.no_grad():
        assert without.pool(batch_graphs(graphs)).shape == (3, 2 * width)
        assert embed_graphs(without, graphs).shape == (3, 4)


def test_siglip_prefers_matching_pairs():
    loss = SigLIPLoss()
    assert math.isclose(loss.log_temperature.item(), math.log(10.0), rel_tol=1e-6) and loss.bias.item() == -10.0
    z = torch.nn.functional.normalize(torch.randn(6, 16), dim=-1)
    aligned, shuffled = loss(z, z), loss(z, z.roll(1, 0))
    assert aligned < shuffled
    # exact value: -1/P sum log sigmoid(y (t cos + b))
    logits = (z @ z.T) * 10.0 - 10.0
    labels = 2 * torch.eye(6) - 1
    assert torch.allclose(aligned, -torch.nn.functional.logsigmoid(labels * logits).sum() / 6)


def test_rendering_loss_weights_foreground_and_background():
    torch.manual_seed(0)
    decoder = ImplicitDecoder(8)
    z = torch.randn(2, 8)
    o = torch.tensor([0.0, 0.0, 2.5]).expand(2, 10, 3)
    d = torch.tensor([0.0, 0.0, -1.0]).expand(2, 10, 3)
    gen = torch.Generator().manual_seed(0)
    from wsrl.nerf.render import RenderConfig, render_rays

    pred = render_rays(
        decoder.field(z), o, d, (-0.7,) * 3 + (0.7,) * 3, RenderConfig(16), torch.Generator().manual_seed(0)
    )
    fg = torch.zeros(2, 10, dtype=torch.bool)
    fg[:, :3] = True
    target = pred["rgb"].detach().clone()
    target[fg] += 0.5  # error only on the foreground: loss = 0.8 * smooth_l1(0.5)
    loss = rendering_loss(decoder, z, {"origins": o, "dirs": d, "rgb": target, "foreground": fg}, 16, gen)
    assert math.isclose(loss.item(), 0.8 * 0.125, rel_tol=1e-4)
    loss.backward()
    assert decoder.condition.weight.grad.abs().sum() > 0


def test_pair_sampler_balances_pairings_and_shards():
    ids = [f"o{i}" for i in range(30)]
    sampler = PairSampler(ids, ["mlp", "triplane", "hash"], pairs_per_batch=6, seed=0)
    batches = sampler.batches(0)
    assert sorted(p[0] for b in batches for p in b) == sorted(ids)
    for batch in batches:
        counts = [sum((p[1], p[2]) == pairing for p in batch) for pairing in sampler.pairings]
        assert max(counts) - min(counts) <= 1 and all(p[1] != p[2] for p in batch)
    assert sampler.batches(0) == batches and sampler.batches(1) != batches
    ranks = [sampler.batches(0, r, 2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 2
    assert not {p for b in ranks[0] for p in b} & {p for b in ranks[1] for p in b}
    uneven = PairSampler([*ids, "o30", "o31"], ["mlp", "triplane", "hash"], pairs_per_batch=6, seed=0).batches(0)
    assert [len(b) for b in uneven] == [6] * 5  # the short last batch is dropped


def test_metrics_on_known_neighbours():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    queries = torch.tensor([[0.9, 0.1], [0.1, -0.9], [-0.2, 1.0]])
    r = recall_at_k(queries, ["a", "d", "c"], gallery, ["a", "b", "c", "d"], (1, 2, 3))
    assert r == {1: 2 / 3, 2: 1.0, 3: 1.0}
    assert knn_accuracy(gallery, [0, 1, 0, 1], queries, [0, 1, 1], k=1) == 1.0
    assert precision_at_k(queries, [0, 1, 1], gallery, [0, 1, 0, 1], k=1) == 1.0

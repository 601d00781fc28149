"""Encodings, MLP and flat-params layout checked against hand-written references."""

import math

import pytest
import torch

from wsrl.nerf.archs import SCALES, get_arch, list_archs
from wsrl.nerf.checkpoint import stack_fields, unstack_field
from wsrl.nerf.fields.encodings import HASH_PRIMES, frequency_encode, hash_encode, triplane_encode
from wsrl.nerf.fields.field import RadianceField
from wsrl.nerf.fields.mlp import mlp_forward
from wsrl.nerf.fields.tcnn import from_tcnn_params, tcnn_param_count, to_tcnn_params
from wsrl.nerf.layout import grid_levels, per_level_scale


def test_frequency_order_matches_tcnn():
    x = torch.rand(1, 5, 3)
    n_freq = 4
    out = frequency_encode(x, n_freq)
    assert out.shape == (1, 5, 3 * n_freq * 2)
    for j in range(out.shape[-1]):
        dim, k = j // (2 * n_freq), (j // 2) % n_freq
        ref = torch.sin(2.0**k * math.pi * x[..., dim] + (j % 2) * math.pi / 2)
        torch.testing.assert_close(out[..., j], ref, atol=1e-5, rtol=0)


def _reference_hash_lookup(x, table, levels, n_feat):
    """Scalar port of tcnn's lookup straight from docs/formats.md §1.3 (python ints and floats)."""
    out = []
    for lv in levels:
        pos = [lv.scale * float(c) + 0.5 for c in x]
        g = [math.floor(p) for p in pos]
        frac = [p - gi for p, gi in zip(pos, g, strict=True)]
        acc = [0.0] * n_feat
        for corner in range(8):
            w, idx = 1.0, []
            for d in range(3):
                bit = (corner >> d) & 1
                w *= frac[d] if bit else 1.0 - frac[d]
                idx.append(g[d] + bit)
            if lv.hashed:
                index = 0
                for d in range(3):
                    index ^= idx[d] * HASH_PRIMES[d]
                index &= 0xFFFFFFFF
            else:
                index = idx[0] + idx[1] * lv.resolution + idx[2] * lv.resolution**2
            row = lv.offset + index % lv.n_entries
            for f in range(n_feat):
                acc[f] += w * float(table[row, f])
        out += acc
    return torch.tensor(out)


@pytest.mark.parametrize("name,scale", [("hash", "paper"), ("hash_levels8", "paper"), ("hash_table11", "mini")])
def test_hash_encoding_matches_scalar_reference(name, scale):
    spec = get_arch(name, scale)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(spec.grid_entries, spec.hash_features, generator=gen)
    borders = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.5]])
    pts = torch.cat([torch.rand(20, 3, generator=gen), borders])
    ours = hash_encode(pts[None], table[None], spec.grid_levels)[0]
    for p, o in zip(pts, ours, strict=True):
        torch.testing.assert_close(
            o, _reference_hash_lookup(p.tolist(), table, spec.grid_levels, spec.hash_features), atol=1e-4, rtol=1e-4
        )


def test_nerfstudio_torch_grid_matches_its_lookup():
    """nerfstudio's torch HashEncoding: pos = x * floor(16 b^l), floor/ceil corners, every level hashed
    (primes 1, 2654435761, 805459861, xor, % 2^T) into rows l * 2^T + h."""
    levels = grid_levels(3, 16, per_level_scale(16, 128, 3), 6, flavour="nerfstudio_torch")
    for n_levels, max_res in ((3, 128), (16, 2048)):  # nerfstudio's own expression, evaluated by torch
        growth = per_level_scale(16, max_res, n_levels)
        expected = torch.floor(16 * growth ** torch.arange(n_levels)).tolist()
        scales = [lv.scale for lv in grid_levels(n_levels, 16, growth, 19, flavour="nerfstudio_torch")]
        assert scales == expected
    assert [lv.scale for lv in levels] == [16.0, 45.0, 127.0] and all(lv.n_entries == 64 for lv in levels)
    gen = torch.Generator().manual_seed(3)
    table = torch.randn(3 * 64, 2, generator=gen)
    pts = torch.rand(10, 3, generator=gen)
    ours = hash_encode(pts[None], table[None], levels)[0]
    for p, o in zip(pts.tolist(), ours, strict=True):
        ref = []
        for lv in levels:
            pos = [c * lv.scale for c in p]
            acc = torch.zeros(2)
            for corner in range(8):
                idx, w = [], 1.0
                for d in range(3):
                    lo, hi, frac = math.floor(pos[d]), math.ceil(pos[d]), pos[d] - math.floor(pos[d])
                    idx.append(hi if (corner >> d) & 1 else lo)
                    w *= frac if (corner >> d) & 1 else 1 - frac
                h = (idx[0] * 1) ^ (idx[1] * 2654435761) ^ (idx[2] * 805459861)
                acc += w * table[lv.offset + h % 64]
            ref.append(acc)
        torch.testing.assert_close(o, torch.cat(ref), atol=1e-4, rtol=1e-4)


def test_dense_level_wraps_at_upper_border():
    """x = 1 on a 16^3 dense level: the +1 corner (16, 0, 0) aliases (0, 1, 0), as tcnn (no clamping)."""
    spec = get_arch("hash", "paper")
    level0 = spec.grid_levels[:1]
    table = torch.zeros(spec.grid_entries, 2)
    table[16, 0] = 1.0  # row of (0, 1, 0) == flattened (16, 0, 0)
    x = torch.tensor([[[1.0, 0.0, 0.0]]])  # pos = (15.5, 0.5, 0.5): corner x=16 has weight 0.5 * 0.5 * 0.5
    assert hash_encode(x, table[None], level0)[0, 0, 0].item() == pytest.approx(0.125)


def test_triplane_is_summed_bilinear_of_nf2vec_planes():
    gen = torch.Generator().manual_seed(1)
    r, c = 5, 3
    planes = torch.randn(1, 3, r, r, c, generator=gen)
    x = torch.rand(1, 4, 3, generator=gen)
    ours = triplane_encode(x, planes)[0]

    def bilinear(img, u, v):  # img [H, W, C]; u indexes W, v indexes H, align_corners=True
        px, py = u * (r - 1), v * (r - 1)
        x0, y0 = min(int(px), r - 2), min(int(py), r - 2)
        fx, fy = px - x0, py - y0
        return (
            (1 - fx) * (1 - fy) * img[y0, x0]
            + fx * (1 - fy) * img[y0, x0 + 1]
            + (1 - fx) * fy * img[y0 + 1, x0]
            + fx * fy * img[y0 + 1, x0 + 1]
        )

    for n in range(4):
        px, py, pz = x[0, n].tolist()
        ref = bilinear(planes[0, 0], px, py) + bilinear(planes[0, 1], px, pz) + bilinear(planes[0, 2], py, pz)
        torch.testing.assert_close(ours[n], ref, atol=1e-5, rtol=1e-5)


def test_padded_input_columns_are_a_pseudo_bias():
    gen = torch.Generator().manual_seed(2)
    weights = [torch.randn(2, 32, 16, generator=gen), torch.randn(2, 16, 32, generator=gen)]
    x = torch.randn(2, 7, 8, generator=gen)
    explicit = torch.cat([x, torch.ones(2, 7, 8)], -1)
    ref = torch.bmm(torch.relu(torch.bmm(explicit, weights[0].transpose(1, 2))), weights[1].transpose(1, 2))[..., :4]
    torch.testing.assert_close(mlp_forward(x, weights, "relu", 1.0, 4), ref, atol=1e-4, rtol=1e-5)
    zero = torch.cat([x, torch.zeros(2, 7, 8)], -1)
    ref0 = torch.bmm(torch.relu(torch.bmm(zero, weights[0].transpose(1, 2))), weights[1].transpose(1, 2))[..., :4]
    torch.testing.assert_close(mlp_forward(x, weights, "relu", 0.0, 4), ref0, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list_archs("mini"))
def test_flat_params_round_trip(name, scale):
    spec = get_arch(name, scale)
    nerf = unstack_field(RadianceField.create(spec, 1, seed=3))[0]
    flat = to_tcnn_params(spec, nerf.tensors)
    n_net, n_enc = tcnn_param_count(spec)
    assert flat.shape == (n_net + n_enc,)
    # network first: the first matrix opens the vector
    torch.testing.assert_close(flat[: spec.mlp_shapes[0][0] * spec.mlp_shapes[0][1]], nerf.tensors["mlp.0"].flatten())
    back = from_tcnn_params(spec, flat, nerf.tensors.get("planes"))
    assert back.keys() == nerf.tensors.keys()
    assert all(torch.equal(back[k], nerf.tensors[k]) for k in back)
    assert torch.equal(to_tcnn_params(spec, back), flat)
    with pytest.raises(ValueError, match="elements"):
        from_tcnn_params(spec, flat[:-1], nerf.tensors.get("planes"), source="x.pth")


def test_batched_field_equals_individual_fields():
    spec = get_arch("triplane")
    batched = RadianceField.create(spec, 3, seed=4)
    xyz = torch.rand(3, 50, 3) * 1.4 - 0.7
    d, c = batched(xyz)
    for b, nerf in enumerate(unstack_field(batched)):
        db, cb = stack_fields([nerf])(xyz[b : b + 1])
        torch.testing.assert_close(db[0], d[b])
        torch.testing.assert_close(cb[0], c[b])


def test_density_is_zero_outside_the_box():
    field = RadianceField.create(get_arch("mlp"), 1)
    density, rgb = field(torch.tensor([[[0.0, 0.0, 0.0], [0.69, 0.0, 0.0], [0.71, 0.0, 0.0], [0.0, -0.9, 0.0]]]))
    assert (density[0, :2] > 0).all() and (density[0, 2:] == 0).all()
    assert ((rgb >= 0) & (rgb <= 1)).all()

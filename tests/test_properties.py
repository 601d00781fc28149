"""Property-based tests: random architectures and corrupted files (hypothesis)."""

import io

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsrl.converters import ConversionError, read_checkpoint

from wsrl.graph.build import nerf_to_graph
from wsrl.graph.forward import graph_forward
from wsrl.graph.schema import EDGE_TYPES
from wsrl.nerf.archs import ArchSpec, nerfacto_base_spec
from wsrl.nerf.checkpoint import unstack_field
from wsrl.nerf.fields.field import RadianceField
from wsrl.nerf.fields.tcnn import from_tcnn_params, to_tcnn_params


@st.composite
def arch_specs(draw) -> ArchSpec:
    family = draw(st.sampled_from(["mlp", "triplane", "hash"]))
    head_layers = draw(st.sampled_from([-1, 0, 1, 2]))
    n_outputs = draw(st.integers(4 if head_layers < 0 else 1, 20))
    common = dict(
        hidden_width=draw(st.sampled_from([16, 32, 64])),
        hidden_layers=draw(st.integers(1, 4)),
        activation=draw(st.sampled_from(["relu", "sine"])),
        n_outputs=n_outputs,
        input_pad_value=draw(st.sampled_from([0.0, 1.0])),
        density_index=draw(st.integers(0 if head_layers >= 0 else 3, n_outputs - 1)),
        head_layers=head_layers,
        head_width=draw(st.sampled_from([16, 32])),
        head_sh_degree=draw(st.integers(1, 4)),
        head_appearance=draw(st.integers(0, 8)),
        mlp_biases=draw(st.booleans()),
        align=draw(st.sampled_from([1, 8, 16])),
    )
    if family == "mlp":
        return ArchSpec(name="p", family="mlp", n_frequencies=draw(st.integers(0, 6)), **common)
    if family == "triplane":
        return ArchSpec(
            name="p", family="triplane", n_frequencies=draw(st.integers(1, 4)),
            plane_resolution=draw(st.integers(2, 8)), plane_features=draw(st.integers(1, 8)), **common,
        )  # fmt: skip
    return ArchSpec(
        name="p", family="hash", hash_levels=draw(st.integers(1, 4)), hash_features=draw(st.sampled_from([1, 2, 4, 8])),
        hash_log2_table=draw(st.integers(3, 10)), hash_base_resolution=draw(st.integers(2, 8)),
        hash_per_level_scale=draw(st.floats(1.1, 2.0)),
        hash_flavour=draw(st.sampled_from(["tcnn", "nerfstudio_torch"])), **common,
    )  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(spec=arch_specs(), seed=st.integers(0, 2**16))
def test_random_architectures_graph_is_the_network(spec, seed):
    nerf = unstack_field(RadianceField.create(spec, 1, seed=seed))[0]
    flat = to_tcnn_params(spec, nerf.tensors)
    back = from_tcnn_params(spec, flat, nerf.tensors.get("planes"))
    assert all(torch.equal(back[k], nerf.tensors[k]) for k in back)
    graph = nerf_to_graph(nerf)
    # one edge per unpadded parameter (+ one bias edge per first-layer neuron when pad columns see 1)
    n_in, shapes = spec.encoding_width, spec.mlp_shapes
    widths = [n_in] + [o for o, _ in shapes[:-1]] + [spec.n_outputs]
    expected = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    if spec.input_pad_value != 0.0 and shapes[0][1] > n_in or spec.mlp_biases:
        expected += widths[1]
    if spec.mlp_biases:  # one bias edge per neuron of the later layers too
        expected += sum(widths[2:])
    expected += {"mlp": 0, "triplane": 3 * spec.plane_resolution**2 * spec.plane_features}.get(spec.family, 0)
    expected += spec.grid_entries * spec.hash_features if spec.family == "hash" else 0
    if spec.head_shapes:  # head: SH + geo inputs, hidden widths, 3 outputs, plus one bias edge per first neuron
        head = [spec.head_sh_degree**2 + spec.n_outputs - 1] + [o for o, _ in spec.head_shapes[:-1]] + [3]
        expected += sum(a * b for a, b in zip(head[:-1], head[1:], strict=True)) + head[1]
        expected += sum(head[2:]) if spec.mlp_biases else 0
    assert graph.num_edges == expected
    gen = torch.Generator().manual_seed(seed)
    xyz = torch.rand(32, 3, generator=gen) * 1.4 - 0.7
    dirs = torch.nn.functional.normalize(torch.randn(32, 3, generator=gen), dim=-1)
    ref = nerf.field().raw(xyz[None], dirs[None])[0]
    torch.testing.assert_close(graph_forward(graph, xyz, dirs), ref, atol=1e-5, rtol=1e-5)


def _valid_nf2vec_bytes() -> bytes:
    """A small, valid nf2vec ``nerf_weights.pth`` (a paper-scale ``mlp``) as bytes."""
    from wsrl.nerf.archs import get_arch

    nerf = unstack_field(RadianceField.create(get_arch("mlp", "paper"), 1))[0]
    buf = io.BytesIO()
    torch.save({"mlp_base.params": to_tcnn_params(nerf.spec, nerf.tensors)}, buf)
    return buf.getvalue()


VALID = _valid_nf2vec_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, len(VALID) - 1),
    flips=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), max_size=4),
)
def test_corrupted_files_fail_cleanly(tmp_path, cut, flips):
    data = bytearray(VALID[: max(cut, 1)] if cut % 2 else VALID)
    for pos, xor in flips:
        if pos < len(data):
            data[pos] ^= xor
    path = tmp_path / "c.pth"
    path.write_bytes(bytes(data))
    try:
        read_checkpoint(path, arch=None)
    except ConversionError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


def test_nerfacto_size_hash_grid_converts_within_the_bound():
    spec = nerfacto_base_spec()
    assert spec.n_params == 12_199_312  # docs/formats.md §1.3: 3,072 network + 12,196,240 grid
    nerf = unstack_field(RadianceField.create(spec, 1))[0]
    graph = nerf_to_graph(nerf)
    assert graph.num_edges <= 200_000
    assert (graph.edge_attr[:, 2] == EDGE_TYPES["hash"]).sum() < 200_000
    # every level keeps entries; coarse dense levels small enough are kept whole
    kept = graph.grid_rows
    for level in spec.grid_levels:
        assert ((kept >= level.offset) & (kept < level.offset + level.n_entries)).any()
    xyz = torch.rand(16, 3) * 1.4 - 0.7
    mask = torch.zeros(spec.grid_entries, 1)
    mask[kept] = 1.0
    nerf.tensors["grid"] = nerf.tensors["grid"] * mask
    torch.testing.assert_close(graph_forward(graph, xyz), nerf.field().raw(xyz[None])[0], atol=1e-5, rtol=1e-5)

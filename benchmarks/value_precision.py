"""What storing graph values as float16 (``wsrl convert --values float16``) saves, and what it does to embeddings.

    python benchmarks/value_precision.py --data wsrl-demo/zoo --ckpt wsrl-mini

Every NeRF of a collection (or of one ``--split``) is packed with float32 and with float16 values, read back and
embedded alone with one encoder. Per architecture: packed bytes float16 ÷ float32, the smallest and the median cosine
between a NeRF's two embeddings, and the share of NeRFs whose nearest neighbour (cosine, among the NeRFs of that
architecture) is the same NeRF with either precision.
"""

from __future__ import annotations

import argparse
import io

import torch
import torch.nn.functional as F

from wsrl.encoder.checkpoint import load_encoder
from wsrl.graph.collection import GraphCollection
from wsrl.graph.files import pack_graphs, unpack_graphs
from wsrl.search.store import embed


def packed_bytes(packed: dict) -> int:
    buffer = io.BytesIO()
    torch.save(packed, buffer)
    return buffer.tell()


def split_graphs(data: GraphCollection, arch: str, split: str | None) -> list:
    return [g for e, g in zip(data.select(arch), data.graphs(arch), strict=True) if split in (None, e.split)]


def nearest(z: torch.Tensor) -> torch.Tensor:
    sim = F.normalize(z, dim=1) @ F.normalize(z, dim=1).T
    return sim.fill_diagonal_(-2.0).argmax(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a zoo or wsrl convert output")
    parser.add_argument("--ckpt", default="wsrl-mini", help="an encoder: run folder, pretrained folder or name")
    parser.add_argument("--split", help="only this split (default: every NeRF)")
    args = parser.parse_args()
    data, encoder = GraphCollection(args.data), load_encoder(args.ckpt)
    reference = [g for a in data.archs for g in split_graphs(data, a, "train")]
    print("| architecture | NeRFs | bytes float16 ÷ float32 | min cosine | median cosine | same nearest neighbour |")
    print("|---|---|---|---|---|---|")
    for arch in data.archs:
        graphs = split_graphs(data, arch, args.split)
        packed = {v: pack_graphs(graphs, v) for v in ("float32", "float16")}
        z = {v: embed(encoder, unpack_graphs(p), reference).embeddings for v, p in packed.items()}
        cos = F.cosine_similarity(z["float32"], z["float16"])
        same = (nearest(z["float32"]) == nearest(z["float16"])).float().mean()
        ratio = packed_bytes(packed["float16"]) / packed_bytes(packed["float32"])
        print(f"| {arch} | {len(graphs)} | {ratio:.2f} | {cos.min():.6f} | {cos.median():.6f} | {same:.3f} |")


if __name__ == "__main__":
    main()

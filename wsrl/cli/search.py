"""Index and search commands: ``wsrl index build|add`` and ``wsrl search``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wsrl.converters import read_checkpoint
from wsrl.encoder.checkpoint import encoder_ref, is_encoder, load_encoder
from wsrl.encoder.population import embed_with_norms
from wsrl.errors import WsrlError
from wsrl.files import writer_lock
from wsrl.graph.build import nerf_to_graph
from wsrl.search.index import FAISS_FILE, GRAPHS_DIR, NeRFIndex, approximate_recall
from wsrl.search.metrics import unit_vectors
from wsrl.search.store import EmbeddingStore


def cmd_index_build(args: argparse.Namespace) -> int:
    """An index of an embedding store (its encoder recorded) or of a collection embedded with ``--ckpt``."""
    started, src = time.time(), Path(args.src)
    if src.is_file():
        store = EmbeddingStore.load(src)
        ref = args.ckpt or store.meta.get("encoder", "")
        if not is_encoder(ref):
            raise WsrlError(f"{src}: its encoder {ref!r} is not on this machine; pass --ckpt (run or pretrained)")
    else:
        from wsrl.graph.collection import GraphCollection
        from wsrl.search.store import embed_collection

        if not args.ckpt:
            raise WsrlError("indexing a collection needs the encoder that embeds it: pass --ckpt RUN")
        ref = args.ckpt
        reference = GraphCollection(args.reference) if args.reference else None
        store = embed_collection(load_encoder(ref), GraphCollection(src), reference, {"encoder": encoder_ref(ref)})
    with writer_lock(args.out):
        kind = "hnsw" if args.approximate else "exact"
        index = NeRFIndex.create(args.out, store, encoder_ref(ref), kind, args.codes)
    size = (index.root / FAISS_FILE).stat().st_size
    print(f"{args.out}: {len(store)} NeRFs of {len(store.archs)} architecture(s), {index.kind} search, "
          f"{args.codes} codes ({size / len(store):.0f} bytes per NeRF in {FAISS_FILE}), "
          f"{time.time() - started:.1f}s")  # fmt: skip
    if args.approximate or args.codes != "float32":
        recall = approximate_recall(unit_vectors(store.embeddings), index.faiss())
        what = " ".join(["HNSW"] * args.approximate + [f"{args.codes} codes"] * (args.codes != "float32"))
        print(f"{what}: recall@10 against exact float32 search, measured on up to 1000 of its own NeRFs: {recall:.3f}")
    return 0


def cmd_index_add(args: argparse.Namespace) -> int:
    """Convert checkpoints into the index's graph folder (resumable), embed those it lacks and append them."""
    from wsrl.cli.pipeline import checkpoint_sources, convert_options, print_convert_report
    from wsrl.graph.collection import GraphCollection
    from wsrl.graph.convert import convert

    index = NeRFIndex.open(args.index)
    sources = [str(p.resolve()) for p in checkpoint_sources(args.src, index.root)]
    with writer_lock(index.root):
        report = convert(sources, index.root / GRAPHS_DIR, convert_options(args), args.workers)
        status = print_convert_report(report)
        wanted = set(sources)
        collection = GraphCollection(index.root / GRAPHS_DIR, progress=False)
        graphs = [g for arch in collection.archs for g in collection.graphs(arch) if g.source in wanted]
        reference = GraphCollection(args.reference, progress=False) if args.reference else None
        added = index.add_graphs(load_encoder(index.encoder_ref), graphs, reference)
    print(f"{args.index}: added {added}, now {len(index.store)} NeRFs")
    return status


def cmd_search(args: argparse.Namespace) -> int:
    """The ``k`` NeRFs of the index nearest to one checkpoint, as a table (and a picture)."""
    index = NeRFIndex.open(args.index)
    nerf = read_checkpoint(args.nerf, args.format, args.arch)
    graph = nerf_to_graph(nerf, args.max_edges)
    if graph.arch not in index.store.norms:
        raise WsrlError(
            f"{args.nerf}: architecture {graph.arch!r} is not in the index (it holds {sorted(index.store.norms)}); "
            "add NeRFs of it first with `wsrl index add ... --reference COLLECTION`"
        )
    query = embed_with_norms(load_encoder(index.encoder_ref), [graph], index.store.norms)
    hits = index.search(query, args.k)[0]
    print(f"query {args.nerf} ({graph.arch})")
    print(f"{'rank':>4}  {'score':>6}  {'arch':<16}{'id':<24}source")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>4}  {hit.score:6.3f}  {hit.arch:<16}{hit.id:<24}{hit.source}")
    if args.picture:
        from wsrl.report.figures import search_picture

        print(f"picture: {search_picture(nerf, str(args.nerf), hits, args.picture)}")
    return 0

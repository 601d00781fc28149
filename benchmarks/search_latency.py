"""Retrieval latency and recall: FAISS exact and approximate indexes vs scikit-learn exact search.

Galleries of 10^4, 10^5 and 10^6 unit vectors (the `mini` embedding size, 128) with queries drawn
near gallery items (a noisy copy of a random item, like a NeRF of the same object in another
architecture). Learned embeddings have a low intrinsic dimension, and approximate indexes depend on
it: vectors are a random linear image of ``--intrinsic``-dimensional Gaussians plus a little
isotropic noise (``--intrinsic 128`` gives isotropic vectors, the worst case for approximate
search). Reported per method: build seconds, query latency (ms per query, batched), recall@10
against exact search's top 10, and how often the item a query was drawn from is in its top 10.

    python benchmarks/search_latency.py --sizes 10000 100000 1000000 --out runs/bench_search
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from sklearn.neighbors import NearestNeighbors

from wsrl.files import save_json


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def data(n: int, dim: int, intrinsic: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gallery ``[n, dim]``, queries ``[q, dim]`` and the gallery item each query was drawn near."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((intrinsic, dim), dtype=np.float32) / np.sqrt(intrinsic)
    latent = rng.standard_normal((n, intrinsic), dtype=np.float32)
    noise = 0.1 if intrinsic < dim else 0.0
    gallery = unit(latent @ basis + noise * rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim))
    picks = rng.integers(0, n, n_queries)
    jitter = 0.5 / np.sqrt(dim) * rng.standard_normal((n_queries, dim), dtype=np.float32)
    return gallery, unit(gallery[picks] + jitter), picks


def faiss_exact(gallery: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(gallery)
    return index


def faiss_hnsw(gallery: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWFlat(gallery.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.add(gallery)
    index.hnsw.efSearch = 64
    return index


def faiss_ivf(gallery: np.ndarray) -> faiss.Index:
    nlist = int(4 * np.sqrt(len(gallery)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(gallery.shape[1]), gallery.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(gallery[np.random.default_rng(0).permutation(len(gallery))[: 64 * nlist]])
    index.add(gallery)
    index.nprobe = 16
    return index


def measure(
    name: str,
    build,
    search,
    gallery: np.ndarray,
    queries: np.ndarray,
    picks: np.ndarray,
    truth: np.ndarray | None,
    k: int,
) -> tuple[dict, np.ndarray]:
    """Build an index on ``gallery``, search ``queries``; timings, recall@k against ``truth`` and
    the rate at which the item each query was drawn from (``picks``) is found in the top k."""
    start = time.perf_counter()
    index = build(gallery)
    built = time.perf_counter() - start
    start = time.perf_counter()
    found = search(index, queries, k)
    seconds = time.perf_counter() - start
    # recall of the reference itself (truth None) is 1 by definition
    recall = (
        1.0 if truth is None else float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))
    )
    source = float(np.mean([p in row for p, row in zip(picks, found, strict=True)]))
    row = {"method": name, "build_s": built, "ms_per_query": 1000 * seconds / len(queries), "recall@10": recall}
    row["source_in_top10"] = source
    return row, found


def faiss_search(index: faiss.Index, queries: np.ndarray, k: int) -> np.ndarray:
    return index.search(queries, k)[1]


def sklearn_exact(gallery: np.ndarray) -> NearestNeighbors:
    return NearestNeighbors(algorithm="brute", metric="cosine").fit(gallery)


def sklearn_search(index: NearestNeighbors, queries: np.ndarray, k: int) -> np.ndarray:
    return index.kneighbors(queries, k, return_distance=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--intrinsic", type=int, default=16, help="intrinsic dimension of the vectors")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench_search")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        gallery, queries, picks = data(n, args.dim, args.intrinsic, args.queries, args.seed)
        exact, truth = measure(
            "faiss IndexFlatIP (exact)", faiss_exact, faiss_search, gallery, queries, picks, None, args.k
        )
        rows = [exact]
        for name, build, search in (
            ("faiss HNSW32 (approx.)", faiss_hnsw, faiss_search),
            ("faiss IVFFlat (approx.)", faiss_ivf, faiss_search),
            ("sklearn brute cosine (exact)", sklearn_exact, sklearn_search),
        ):
            rows.append(measure(name, build, search, gallery, queries, picks, truth, args.k)[0])
        for row in rows:
            row["gallery"] = n
            print(
                f"{n:>9,} {row['method']:<30} build {row['build_s']:7.2f}s  "
                f"{row['ms_per_query']:8.3f} ms/query  recall@10 {row['recall@10']:6.3f}  "
                f"source in top 10 {row['source_in_top10']:6.3f}",
                flush=True,
            )
        results += rows
    save_json(f"{args.out}/results_intrinsic{args.intrinsic}.json", {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()

"""Held-out robustness: the zoo's test objects refitted from fresh initialisations, scored against the zoo.

    python benchmarks/robustness.py --zoo Z --ckpt RUN --out OUT [--refit-seed 1]

The refit zoo (``OUT/refit``, resumable) holds the same test objects fitted to the same distillation points by
every architecture of the zoo, each from an initialisation the zoo never used (the plan's seed is replaced).
For every method of ``wsrl bench all`` (trained encoder, untrained encoder, weight statistics, probe), each
standardised against the zoo's train split:

- twin recall@1: a refit NeRF finds the zoo NeRF of its own object and architecture among that architecture's
  test NeRFs (chance 1 / test objects);
- class accuracy: cosine 1-NN fitted on the zoo's train split of the architecture, scored on the refits;
- cross-architecture recall@1: a refit NeRF finds its object among the zoo test NeRFs of each other
  architecture, averaged over all ordered pairs.

Writes ``OUT/robustness.json`` and ``OUT/robustness.md`` and prints the table. Refitting photometrically from
the zoo's renders is not covered.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from wsrl.encoder.checkpoint import load_encoder
from wsrl.encoder.gmn import untrained_encoder
from wsrl.errors import WsrlError
from wsrl.files import save_json, save_text
from wsrl.graph.collection import GraphCollection
from wsrl.search.metrics import knn_accuracy, recall_at_k
from wsrl.search.store import EmbeddingStore, embed_collection, probe_collection, weight_statistics_collection
from wsrl.zoo.build import PRESETS, build_zoo, plan_zoo
from wsrl.zoo.folder import Zoo


def refit_plan(zoo_dir: Path, refit_seed: int):
    """The zoo's plan restricted to its test objects, with a seed of its own for every fit unit."""
    manifest = Zoo(zoo_dir).manifest()
    name = manifest["preset"]["name"]
    if name not in PRESETS:
        raise WsrlError(f"{zoo_dir}: built with preset {name!r}, not one of {sorted(PRESETS)}")
    preset = PRESETS[name]
    plan = plan_zoo(preset, manifest["seed"], manifest["archs"], manifest["init"])
    test = [o for o in plan.objects if o.split == "test"]
    n_blocks = -(-len(test) // preset.fit.batch_size)
    blocks = [list(range(len(test)))[k::n_blocks] for k in range(n_blocks)]
    seed = 1_000_000 * refit_seed + plan.seed
    return dataclasses.replace(plan, seed=seed, objects=test, blocks=blocks)


def scores(zoo: EmbeddingStore, refit: EmbeddingStore) -> dict:
    twin, accuracy, cross = [], [], []
    for arch in zoo.archs:
        train, test, mine = zoo.select(arch, "train"), zoo.select(arch, "test"), refit.select(arch)
        twin.append(recall_at_k(mine.embeddings, mine.object_id, test.embeddings, test.object_id, (1,))[1])
        accuracy.append(knn_accuracy(train.embeddings, train.label, mine.embeddings, mine.label, 1))
        for other in zoo.archs:
            if other != arch:
                gallery = zoo.select(other, "test")
                ids = gallery.object_id
                cross.append(recall_at_k(mine.embeddings, mine.object_id, gallery.embeddings, ids, (1,))[1])
    return {
        "twin_recall@1": float(np.mean(twin)),
        "class_accuracy": float(np.mean(accuracy)),
        "cross_arch_recall@1": float(np.mean(cross)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True, type=Path)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--refit-seed", type=int, default=1)
    args = parser.parse_args()

    build_zoo(args.out / "refit", refit_plan(args.zoo, args.refit_seed))
    zoo, refit = GraphCollection(args.zoo), GraphCollection(args.out / "refit")
    trained = load_encoder(args.ckpt)
    untrained = untrained_encoder(trained.config)
    methods = {
        "trained": lambda data: embed_collection(trained, data, zoo),
        "untrained": lambda data: embed_collection(untrained, data, zoo),
        "weight_statistics": lambda data: weight_statistics_collection(data, zoo),
        "probe": lambda data: probe_collection(data, zoo),
    }
    results = {name: scores(embed(zoo), embed(refit)) for name, embed in methods.items()}
    n_test = len(refit.ids("test"))
    lines = [
        f"Refits of {n_test} test objects x {len(zoo.archs)} architectures ({args.zoo}, refit seed {args.refit_seed})",
        "",
        "| method | twin recall@1 | class accuracy (%) | cross-arch recall@1 |",
        "|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['twin_recall@1']:.3f} | {100 * r['class_accuracy']:.1f} | {r['cross_arch_recall@1']:.3f} |"
        )
    save_json(args.out / "robustness.json", {"zoo": str(args.zoo), "ckpt": args.ckpt, "results": results})
    save_text(args.out / "robustness.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

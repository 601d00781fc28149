"""Is the zoo's class learnable from shape, and not trivially? k-NN on coarse ground-truth occupancy.

Plans a zoo (no fitting needed), voxelises every ground-truth shape to a ``res^3``
occupancy grid and scores a k-NN classifier (train split -> test split). Chance is
1/13 = 7.7%. Run::

    python benchmarks/zoo_sanity.py --size mini --res 16
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

from wsrl.zoo.build import PRESETS, plan_zoo
from wsrl.zoo.sdf import occupancy_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(PRESETS), default="mini")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--res", type=int, default=16)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    plan = plan_zoo(PRESETS[args.size], args.seed)
    with torch.no_grad():
        grids = np.stack([occupancy_grid(o.scene(), args.res).numpy() for o in plan.objects])
    labels = np.array([o.label for o in plan.objects])
    train = np.array([o.split == "train" for o in plan.objects])
    test = np.array([o.split == "test" for o in plan.objects])
    print(f"{args.size} zoo, seed {args.seed}: {train.sum()} train / {test.sum()} test objects, {args.res}^3 occupancy")
    for k in args.k:
        knn = KNeighborsClassifier(n_neighbors=k).fit(grids[train], labels[train])
        acc = (knn.predict(grids[test]) == labels[test]).mean()
        print(f"k-NN (k={k}, euclidean on occupancy): test accuracy {100 * acc:.1f}% (chance {100 / 13:.1f}%)")


if __name__ == "__main__":
    main()

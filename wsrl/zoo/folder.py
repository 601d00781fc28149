"""A zoo folder as written by ``wsrl zoo build``: where its files are and how to read them.

Layout (``data/README.md``)::

    ZOO/manifest.json                  preset, seed, architectures, classes, objects (id, class, label, split)
    ZOO/objects/<id>/                  scene.json, train/r_<i>.png, transforms.json
    ZOO/nerfs/<arch>/<id>.pt           one wsrl NeRF checkpoint per object and architecture
    ZOO/fits/<arch>/block_<k>.json     PSNR and time of each fitted block (marks the block done)
    ZOO/{train,val,test}.txt           object ids per split
    ZOO/summary.json, contact_sheet.png
"""

from __future__ import annotations

import os
from pathlib import Path

from wsrl.errors import WsrlError
from wsrl.files import load_json, open_envelope
from wsrl.nerf.checkpoint import NeRF, load_nerf

SPLITS = ("train", "val", "test")
MANIFEST_FORMAT, MANIFEST_VERSION = "wsrl.zoo", 1


class Zoo:
    """A zoo folder: paths of its files and readers of what a build wrote."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def object_dir(self, object_id: str) -> Path:
        return self.root / "objects" / object_id

    def nerf_path(self, arch: str, object_id: str) -> Path:
        return self.root / "nerfs" / arch / f"{object_id}.pt"

    def block_record(self, arch: str, block: int) -> Path:
        return self.root / "fits" / arch / f"block_{block:04d}.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict:
        path = self.manifest_path
        if not path.exists():
            raise WsrlError(f"{self.root}: no manifest.json (build the zoo with `wsrl zoo build`)")
        return open_envelope(
            load_json(path, "wsrl zoo manifest"), MANIFEST_FORMAT, MANIFEST_VERSION, str(path), "wsrl zoo manifest"
        )

    def load(self, arch: str, object_id: str) -> NeRF:
        return load_nerf(self.nerf_path(arch, object_id))

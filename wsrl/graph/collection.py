"""One reader for every set of parameter graphs: a zoo folder or ``wsrl convert`` output.

A :class:`GraphCollection` presents graphs with their object id, architecture, class label and split,
whichever source they come from, so that embedding, benchmarking, training, indexing and search read
both alike:

* a **zoo** (``manifest.json``, :mod:`wsrl.zoo.folder`): every object in every architecture, labels and
  splits from the manifest; graphs are built from the NeRFs once and cached per architecture
  (``ZOO/cache/graphs_<arch>.pt``, the :mod:`wsrl.graph.files` layout), rebuilt when the schema changes;
* **converted checkpoints** (``index.json`` + shards, :mod:`wsrl.graph.convert`): the rows of the index;
  labels (``class_label`` -1) and splits (``""``) may be missing, as in most users' collections.

Entries are listed architecture by architecture, in the source's order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch_geometric.data import Data
from tqdm.auto import tqdm

from wsrl.errors import WsrlError
from wsrl.files import has_envelope, load_torch, save_torch
from wsrl.graph.build import nerf_to_graph
from wsrl.graph.files import FORMAT, INDEX_FILE, load_shard, pack_graphs, read_index, unpack_graphs
from wsrl.graph.schema import SCHEMA_VERSION
from wsrl.nerf.checkpoint import NeRF
from wsrl.zoo.folder import Zoo


@dataclass(frozen=True)
class Entry:
    """One NeRF of a collection."""

    id: str
    arch: str
    label: int  # -1: unknown
    split: str  # "": none
    source: str  # the checkpoint it came from


def _entry(row: dict) -> Entry:
    """An index row as an entry (an id defaults to the source path)."""
    label = row.get("class_label", -1)
    return Entry(
        str(row.get("id") or row["source"]), str(row["arch"]), label if isinstance(label, int) else -1,
        str(row.get("split") or ""), str(row["source"]),
    )  # fmt: skip


class GraphCollection:
    """Graphs of a zoo folder or of ``wsrl convert`` output, with ids, architectures, labels and splits."""

    def __init__(self, root: str | os.PathLike, archs: Sequence[str] | None = None, progress: bool = True) -> None:
        self.root = Path(root)
        self.progress = progress
        if (self.root / "manifest.json").exists():
            self.kind = "zoo"
            self.zoo: Zoo | None = Zoo(self.root)
            entries = self._zoo_entries()
        elif (self.root / INDEX_FILE).exists():
            self.kind, self.zoo = "converted", None
            self._rows = read_index(self.root / INDEX_FILE)
            entries = [_entry(r) for r in self._rows]
        else:
            raise WsrlError(
                f"{self.root}: not a graph collection (expected a zoo's manifest.json or wsrl convert's {INDEX_FILE})"
            )
        present = list(dict.fromkeys(e.arch for e in entries))
        self.archs = list(archs) if archs else present
        missing = sorted(set(self.archs) - set(present))
        if missing:
            raise WsrlError(f"{self.root}: the collection has no NeRFs of {missing}; it holds {present}")
        self.entries = [e for arch in self.archs for e in entries if e.arch == arch]
        self._position = {(e.arch, e.id): i for i, e in reversed(list(enumerate(self.entries)))}
        self._graphs: dict[str, list[Data]] = {}

    @property
    def cache_dir(self) -> Path:
        """Where derived data of this collection is cached (graphs of a zoo, ray banks)."""
        return self.root / "cache"

    # -- what the collection holds ---------------------------------------------------
    def select(self, arch: str | None = None, split: str | None = None) -> list[Entry]:
        return [e for e in self.entries if (arch is None or e.arch == arch) and (split is None or e.split == split)]

    def ids(self, split: str | None = None, archs: Sequence[str] | None = None) -> list[str]:
        """Object ids (first-seen order) of ``split`` that have a NeRF in every one of ``archs`` (default: any)."""
        ids = list(dict.fromkeys(e.id for e in self.select(split=split)))
        return [i for i in ids if all((a, i) in self._position for a in archs or ())]

    @property
    def has_labels(self) -> bool:
        return any(e.label >= 0 for e in self.entries)

    @property
    def has_splits(self) -> bool:
        return any(e.split for e in self.entries)

    def require(self, labels: bool = False, splits: bool = False, what: str = "this command") -> None:
        """A one-line error when ``what`` needs class labels or splits that the collection lacks."""
        wanted = (("class labels", labels, self.has_labels), ("train/val/test splits", splits, self.has_splits))
        lacking = [name for name, need, has in wanted if need and not has]
        if lacking:
            raise WsrlError(
                f"{self.root}: {what} needs {' and '.join(lacking)}, which this collection does not have "
                "(a zoo has both; converted checkpoints get them from nf2vec folders or their metadata)"
            )

    # -- graphs and NeRFs ----------------------------------------------------------------
    def graphs(self, arch: str) -> list[Data]:
        """The graphs of ``arch``, in the order of :meth:`select`\\ (arch)."""
        if arch not in self._graphs:
            self._graphs[arch] = self._zoo_graphs(arch) if self.zoo is not None else self._converted_graphs(arch)
        return self._graphs[arch]

    def graph(self, arch: str, object_id: str) -> Data:
        try:
            position = self._position[(arch, object_id)]
        except KeyError:
            raise WsrlError(f"{self.root}: no NeRF of object {object_id!r} in architecture {arch!r}") from None
        first = next(i for i, e in enumerate(self.entries) if e.arch == arch)
        return self.graphs(arch)[position - first]

    def population(self, arch: str) -> list[Data]:
        """The graphs of ``arch`` that serve as its reference population: its train split, or all of them when
        ``arch``'s NeRFs have no splits."""
        graphs, entries = self.graphs(arch), self.select(arch)
        if not any(e.split for e in entries):
            return graphs
        return [g for g, e in zip(graphs, entries, strict=True) if e.split == "train"]

    def nerf(self, arch: str, object_id: str) -> NeRF:
        """The NeRF itself (for rendering): a zoo's checkpoint, or the converted source read again."""
        if self.zoo is not None:
            return self.zoo.load(arch, object_id)
        from wsrl.converters import read_checkpoint

        source = self.entries[self._position[(arch, object_id)]].source
        return read_checkpoint(source)

    # -- sources -------------------------------------------------------------------------
    def _zoo_entries(self) -> list[Entry]:
        manifest = self.zoo.manifest()
        return [
            Entry(o["id"], arch, int(o["label"]), o["split"], str(self.zoo.nerf_path(arch, o["id"])))
            for arch in manifest["archs"]
            for o in manifest["objects"]
        ]

    def _zoo_graphs(self, arch: str) -> list[Data]:
        """The cached graphs of ``arch``, built (again) when missing or of another graph schema."""
        path = self.cache_dir / f"graphs_{arch}.pt"
        try:
            packed = load_torch(path, "graph cache", mmap=True) if path.exists() else None
        except WsrlError:  # a cache cut short (a killed build) is built again
            packed = None
        if not has_envelope(packed, FORMAT, SCHEMA_VERSION):
            entries = self.select(arch)
            bar = tqdm(entries, desc=f"graphs {arch}", leave=False, disable=not self.progress)
            packed = pack_graphs([nerf_to_graph(self.zoo.load(arch, e.id)) for e in bar])
            save_torch(path, packed)
        return unpack_graphs(packed, str(path))

    def _converted_graphs(self, arch: str) -> list[Data]:
        shards: dict[str, list[Data]] = {}
        out = []
        for row in self._rows:
            if row["arch"] != arch:
                continue
            if row["file"] not in shards:
                shards[row["file"]] = load_shard(self.root / row["file"])
            out.append(shards[row["file"]][int(row["position"])])
        return out

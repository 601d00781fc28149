"""Batch conversion: checkpoints in, parameter-graph shards out.

Output folder::

    OUT/shard_00000.pt ...   plain dicts of tensors (weights-only safe), see :mod:`wsrl.graph.files`
    OUT/index.json           one row per converted NeRF: source, id, arch, class label, split, shard, position
    OUT/failures.json        every file that failed, with its one-line reason

Shards and the index are written atomically, shard first, so a killed run loses
at most the unwritten shard. A rerun converts only files the index does not hold as they are now: a file is
known by its resolved path, size and modification time, so the same file named twice (or relatively and
absolutely) converts once, and a file replaced since, or converted before with other options (``--arch``,
``--format``, ``--max-edges``), is converted again and its old row dropped. One process
writes a folder at a time (:func:`~wsrl.files.writer_lock`). Workers read checkpoints in parallel
(``multiprocessing``; one per :data:`JOBS_PER_WORKER` checkpoints at most, since each costs seconds to start) and
send back values only; one bad file never stops the batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from torch_geometric.data import Data
from tqdm.auto import tqdm

from wsrl.converters import ConversionError, read_checkpoint
from wsrl.files import save_json, save_torch, writer_lock
from wsrl.graph.build import graph_of, nerf_values
from wsrl.graph.files import INDEX_FILE, pack_graphs, read_index
from wsrl.graph.schema import DEFAULT_MAX_EDGES


@dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    """How checkpoints are read and graphs built."""

    fmt: str | None = None  # force a reader (default: detected by content)
    arch: str | None = None  # force the architecture name (nf2vec files do not store it)
    max_edges: int = DEFAULT_MAX_EDGES  # edge budget of one graph (hash grids are cut to fit)


JOBS_PER_WORKER = 2000
"""Checkpoints a worker process must have to pay for its start: a worker imports torch and wsrl (about 3.5 s on
2 cores, measured), the time one process converts some 2,000 paper-scale checkpoints in."""


@dataclass
class ConvertReport:
    converted: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    workers: int = 1  # worker processes used (fewer than asked when the job is too small to pay for them)


def _one_thread() -> None:
    """A worker's torch runs on one thread: the workers share the cores."""
    import torch

    torch.set_num_threads(1)


def _convert_one(job: tuple[str, ConvertOptions]) -> tuple[str, tuple | None, str | None]:
    """Read one checkpoint: its spec, graph values, kept hash rows and meta (small to send back from a worker:
    the graph's structure is the main process's cached template), or the one-line reason it failed."""
    source, opts = job
    try:
        nerf = read_checkpoint(source, opts.fmt, opts.arch)
        return source, (nerf.spec, *nerf_values(nerf, opts.max_edges), nerf.meta), None
    except ConversionError as exc:
        return source, None, str(exc)
    except Exception as exc:  # a reader bug must not kill the batch either; report it loudly
        return source, None, f"{source}: unexpected {type(exc).__name__}: {exc}"


def convert(
    sources: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    opts: ConvertOptions = ConvertOptions(),
    workers: int = 1,
    shard_size: int = 256,
    progress: bool = True,
) -> ConvertReport:
    """Convert ``sources`` into graph shards under ``out`` (resumable, see module docstring)."""
    with writer_lock(out):
        return _convert(sources, Path(out), opts, workers, shard_size, progress)


def file_identity(source: str) -> dict:
    """What says a checkpoint is the one converted before: resolved path, size, modification time."""
    path = Path(source).resolve()
    try:
        stat = path.stat()
    except OSError:
        return {"resolved": str(path)}  # unreadable: the reader reports it
    return {"resolved": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _convert(
    sources: Iterable[str | os.PathLike], out: Path, opts: ConvertOptions, workers: int, shard_size: int, progress: bool
) -> ConvertReport:  # fmt: skip
    index_path = out / INDEX_FILE
    index = read_index(index_path) if index_path.exists() else []
    identities: dict[str, tuple[str, dict]] = {}
    for source in map(str, sources):
        ident = file_identity(source)
        identities.setdefault(ident["resolved"], (source, ident))
    known = {row.get("resolved", str(Path(row["source"]).resolve())): row for row in index}
    options = asdict(opts)
    current = {r for r, (_, ident) in identities.items() if r in known and _up_to_date(known[r], ident, options)}
    stale = {r for r in identities if r in known and r not in current}
    next_shard = 1 + max((row["shard"] for row in index), default=-1)  # before stale rows go: never reuse a shard
    index = [row for row in index if row.get("resolved", str(Path(row["source"]).resolve())) not in stale]
    if stale:
        save_json(index_path, index)  # a replaced file's old graph goes even if its new version fails
    todo = [s for r, (s, _) in identities.items() if r not in current]
    report = ConvertReport(skipped=len(current))
    buffer: list[Data] = []
    rows: list[dict] = []

    def flush() -> None:
        nonlocal next_shard, buffer, rows
        if not buffer:
            return
        name = f"shard_{next_shard:05d}.pt"
        save_torch(out / name, pack_graphs(buffer))
        for pos, row in enumerate(rows):
            row.update(shard=next_shard, file=name, position=pos)
        index.extend(rows)
        save_json(index_path, index)
        next_shard, buffer, rows = next_shard + 1, [], []

    jobs = [(s, opts) for s in todo]
    report.workers = max(1, min(workers, len(jobs) // JOBS_PER_WORKER))
    pool = get_context("spawn").Pool(report.workers, _one_thread) if report.workers > 1 else None
    results = pool.imap(_convert_one, jobs, chunksize=4) if pool else map(_convert_one, jobs)
    try:
        for source, read, error in tqdm(results, total=len(jobs), desc="convert", disable=not progress):
            if read is None:
                report.failures.append((source, error or "unknown error"))
                continue
            spec, value, kept, meta = read
            graph = graph_of(spec, value, kept, meta, opts.max_edges)
            graph.source = source
            if not graph.object_id:
                graph.object_id = source
            buffer.append(graph)
            rows.append(
                {
                    **file_identity(source),
                    "options": options,
                    "source": source,
                    "id": graph.object_id,
                    "arch": graph.arch,
                    "class_label": graph.class_label,
                    "split": graph.split,
                    "nodes": graph.num_nodes,
                    "edges": graph.num_edges,
                }
            )
            report.converted += 1
            if len(buffer) >= shard_size:
                flush()
        flush()
    finally:
        if pool:
            pool.close()
            pool.join()
    save_json(out / "failures.json", [{"source": s, "error": e} for s, e in report.failures])
    return report


def _up_to_date(row: dict, identity: dict, options: dict) -> bool:
    """Whether ``row`` holds this very file converted with these options (rows of a wsrl before file identities
    match by path alone, rows before recorded options were converted with the defaults)."""
    same_file = "size" not in row or (row["size"], row.get("mtime_ns")) == (
        identity.get("size"),
        identity.get("mtime_ns"),
    )
    return same_file and row.get("options", asdict(ConvertOptions())) == options

"""Batch conversion: checkpoints in, parameter-graph shards out.

Output folder::

    OUT/shard_00000.pt ...   plain dicts of tensors (weights-only safe), see :mod:`wsrl.graph.files`
    OUT/index.json           one row per converted NeRF: source, id, arch, class label, split, shard, position
    OUT/failures.json        every file that failed, with its one-line reason

Shards and the index are written atomically, shard first, so a killed run loses
at most the unwritten shard. A rerun converts only files the index does not hold as they are now: a file is
known by its resolved path, size and modification time, so the same file named twice (or relatively and
absolutely) converts once, and a file replaced since, or converted before with other options (``--arch``,
``--format``, ``--max-edges``, ``--values``), is converted again and its old row dropped. One process
writes a folder at a time (:func:`~wsrl.files.writer_lock`). Workers read checkpoints in parallel
(``multiprocessing``, as many as pay for themselves: :func:`usable_workers`) and send back values only; one bad
file never stops the batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm.auto import tqdm

from wsrl.files import RowsFile, save_json, save_torch, writer_lock
from wsrl.graph.build import meta_fields, spec_dict, template_for
from wsrl.graph.files import INDEX_FILE, Packable, pack, read_index
from wsrl.graph.values import ConvertOptions, one_thread, read_values

JOBS_PER_WORKER = 2500
"""Checkpoints each worker process must have to pay for itself: a pool starts and stops in about 2 s (its workers
import torch), and reading is about 0.6 ms of a checkpoint's 0.9 ms (measured on 2 cores)."""


def usable_workers(asked: int, jobs: int) -> int:
    """Worker processes worth starting: at most one per :data:`JOBS_PER_WORKER` checkpoints and one per core the
    main process (which builds, packs and writes the graphs) leaves free. On 2 cores that is none: 6,000 small
    checkpoints took 0.89 ms each in one process, 1.1-1.4 ms with 2 workers and 1.6 ms with 1 (measured)."""
    return max(1, min(asked, (os.cpu_count() or 1) - 1, jobs // JOBS_PER_WORKER))


@dataclass
class ConvertReport:
    converted: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    workers: int = 1  # worker processes used (fewer than asked when the job is too small to pay for them)


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
    path = os.path.realpath(source)
    try:
        stat = os.stat(path)
    except OSError:
        return {"resolved": path}  # unreadable: the reader reports it
    return {"resolved": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


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
    written = RowsFile(index_path, index)
    if stale:
        written.save()  # a replaced file's old graph goes even if its new version fails
    todo = [(s, ident) for r, (s, ident) in identities.items() if r not in current]
    report = ConvertReport(skipped=len(current))
    buffer: list[Packable] = []
    rows: list[dict] = []

    def flush() -> None:
        nonlocal next_shard, buffer, rows
        if not buffer:
            return
        name = f"shard_{next_shard:05d}.pt"
        save_torch(out / name, pack(buffer, opts.values))
        for pos, row in enumerate(rows):
            row.update(shard=next_shard, file=name, position=pos)
        written.extend(rows)
        written.save()
        next_shard, buffer, rows = next_shard + 1, [], []

    jobs = [(s, opts) for s, _ in todo]
    report.workers = usable_workers(workers, len(jobs))
    pool = get_context("spawn").Pool(report.workers, one_thread) if report.workers > 1 else None
    results = pool.imap(read_values, jobs, chunksize=16) if pool else map(read_values, jobs)
    try:
        bar = tqdm(zip(results, todo, strict=True), total=len(jobs), desc="convert", disable=not progress)
        for (source, read, error), (_, identity) in bar:  # results come back in the order of the jobs
            if read is None:
                report.failures.append((source, error or "unknown error"))
                continue
            spec, value, kept, meta = read
            template = template_for(spec, None if kept is None else torch.from_numpy(kept), opts.max_edges)
            columns = meta_fields(spec, meta) | {"source": source}  # with the label popped: the string columns
            columns["object_id"] = columns["object_id"] or source
            label = columns.pop("class_label")
            buffer.append(Packable(template, spec_dict(spec), torch.from_numpy(value), label, columns))
            rows.append(
                {
                    **identity,
                    "options": options,
                    "source": source,
                    "id": columns["object_id"],
                    "arch": spec.name,
                    "class_label": label,
                    "split": columns["split"],
                    "nodes": template["x"].shape[0],
                    "edges": len(value),
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

"""wsrl's files: atomic writes and the format/version envelope every wsrl file carries.

Writes go to a temporary file in the target folder, then ``os.replace``: a job killed mid-write leaves
either the old file or no file, never half of one.

Every torch file wsrl writes is a plain dict ``{"format": NAME, "version": N, ...}`` read back with
``torch.load(weights_only=True)`` (never unpickling code); :func:`load_envelope` refuses another format or
version with one line naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from wsrl.errors import WsrlError


def _umask() -> int:
    """The process's umask (read by setting and restoring it; there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file and move it to ``path``, with the mode an ordinary ``open``
    would give it (the user's umask; ``mkstemp`` alone makes every output owner-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


WRITER_FILE = ".wsrl-writer.json"
"""Who holds an output folder: pid, command and start time, beside the lock file ``.wsrl.lock``."""


@contextmanager
def writer_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder`` for this process while it writes there: a second wsrl process that would write the same
    folder is refused with one line naming the holder (two writers would interleave shards and index rows)."""
    import sys
    import time

    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / ".wsrl.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read_writer(folder / WRITER_FILE)
        raise WsrlError(
            f"{folder}: being written by another wsrl process ({holder}); wait for it or use another output"
        ) from None
    try:
        save_json(folder / WRITER_FILE, {"pid": os.getpid(), "command": " ".join(sys.argv), "since": time.ctime()})
        yield folder
    finally:
        (folder / WRITER_FILE).unlink(missing_ok=True)
        lock.release()


def _read_writer(path: Path) -> str:
    try:
        who = json.loads(path.read_text())
        return f"pid {who['pid']}, since {who['since']}: {who['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def envelope(fmt: str, version: int, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` under the ``format``/``version`` header."""
    return {"format": fmt, "version": version, **body}


def has_envelope(payload: Any, fmt: str, version: int) -> bool:
    """Whether ``payload`` is a dict of ``fmt`` at ``version`` (caches rebuild when it is not)."""
    return isinstance(payload, dict) and payload.get("format") == fmt and payload.get("version") == version


def open_envelope(payload: Any, fmt: str, version: int, source: str, what: str, hint: str = "") -> dict[str, Any]:
    """``payload`` if it is a dict of ``fmt`` at ``version``, else a one-line :class:`WsrlError`
    (``what`` names the kind of file, ``hint`` what to do about an old version)."""
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise WsrlError(f"{source}: not a {what} (expected a dict with format={fmt!r})")
    if payload.get("version") != version:
        found = payload.get("version")
        raise WsrlError(f"{source}: {what} of version {found!r}, this wsrl reads version {version}{hint}")
    return payload


def load_failure(exc: Exception) -> str:
    """One line saying why ``torch.load(weights_only=True)`` refused a file: for a pickle that would run code,
    the line naming the blocked callable (``GLOBAL posix.system``), not torch's advice to trust the file."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    reason = (named or lines or [""])[0]
    reason = reason.split("WeightsUnpickler error: ", 1)[-1].split(". ", 1)[0].rstrip(".")  # first sentence
    return f"{type(exc).__name__}: {reason[:300]}" if reason else type(exc).__name__


def load_torch(path: str | os.PathLike, what: str = "wsrl file", mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` on CPU; a missing or unreadable file is a one-line :class:`WsrlError`.
    ``mmap`` maps the file and copies its tensors out (faster than torch's read for large tensors, measured, and
    nothing stays tied to the file, which could be rewritten in place by another program)."""
    try:
        if mmap:
            return _copied(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WsrlError(f"{path}: no such {what}") from None
    except Exception as exc:  # torch raises many types for corrupt / unsafe files
        raise WsrlError(f"{path}: cannot read as a weights-only torch file: {load_failure(exc)}") from None


def _copied(obj: Any) -> Any:
    """``obj`` with every tensor in its dicts and lists cloned."""
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _copied(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copied(v) for v in obj]
    return obj


def load_envelope(
    path: str | os.PathLike, fmt: str, version: int, what: str, hint: str = ""
) -> dict[str, Any]:  # fmt: skip
    """A wsrl torch file of ``fmt`` at ``version`` (see :func:`open_envelope`)."""
    return open_envelope(load_torch(path, what), fmt, version, str(path), what, hint)


def load_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """A JSON file; a missing, unreadable or malformed one is a one-line :class:`WsrlError` naming ``what``."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WsrlError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WsrlError(f"{path}: not readable as a {what} ({exc})") from None


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """JSON (indented, sorted keys) atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


class RowsFile:
    """A JSON list of rows written one row per line, each row encoded once: a file that grows row by row (an index
    rewritten after every shard) is not encoded again from the start at every write, which made a large
    conversion quadratic (measured). ``json``'s C encoder per row: an indented dump takes the pure Python one."""

    def __init__(self, path: str | os.PathLike, rows: list[dict]) -> None:
        self.path = Path(path)
        self.lines = [json.dumps(row, sort_keys=True) for row in rows]

    def extend(self, rows: list[dict]) -> None:
        self.lines += [json.dumps(row, sort_keys=True) for row in rows]

    def save(self) -> Path:
        """Write the file atomically."""
        text = "[\n" + ",\n".join(self.lines) + "\n]\n"
        return atomic_write(self.path, lambda f: f.write(text.encode()))


def save_png(path: str | os.PathLike, image: torch.Tensor | np.ndarray) -> Path:
    """An ``[H, W, 3]`` float image in [0, 1] (or uint8) as PNG, atomically."""
    from PIL import Image

    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


def save_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def save_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Rows of equal keys as CSV (header from the first row) atomically."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return save_text(path, buf.getvalue())


def save_figure(path: str | os.PathLike, figure: Any, dpi: int = 110) -> Path:
    """A matplotlib figure as PNG, atomically; the figure is closed."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=dpi))
    finally:
        plt.close(figure)

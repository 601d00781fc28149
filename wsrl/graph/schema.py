"""The parameter-graph schema: node and edge columns by name, type codes, the schema version.

A NeRF's graph (:func:`wsrl.graph.build.nerf_to_graph`) is a PyG ``Data`` with

``x`` (long ``[N, 3]``), columns :class:`NodeColumn`:
    ``LAYER``: 0 grid cells / table entries, 1 MLP inputs (the encoded features), 1 + i the i-th hidden layer,
    1 + H + 1 the outputs; a bias node has the layer of the neurons it feeds minus one.
    ``POSITION``: index among the MLP's inputs or outputs, -1 otherwise (hidden neurons carry no index, so a
    permutation of hidden neurons permutes nodes and nothing else).
    ``TYPE``: :data:`NODE_TYPES`.

``edge_attr`` (float ``[E, 6]``), columns :class:`EdgeColumn`:
    ``VALUE`` of the parameter; ``LAYER`` of its target node; ``TYPE`` (:data:`EDGE_TYPES`);
    ``POSITION`` (three columns): tri-plane ``(plane, u, v)`` with u, v the cell's coordinates in [-1, 1];
    hash ``(level / (L - 1), -1, -1)``; -1 for MLP edges.

Graph attributes: ``arch``, ``spec`` (the :class:`~wsrl.nerf.archs.ArchSpec` as a dict), ``object_id``,
``class_label`` (-1: unknown), ``split`` ("": none), ``source`` (the checkpoint read; "": unknown) and, for hash
grids, ``grid_rows`` / ``grid_kept``.
"""

from __future__ import annotations

from enum import IntEnum

NODE_TYPES = {"input": 0, "hidden": 1, "output": 2, "bias": 3, "plane_cell": 4, "hash_entry": 5, "direction": 6}
EDGE_TYPES = {"linear": 0, "bias": 1, "triplane": 2, "hash": 3}
DEFAULT_MAX_EDGES = 200_000
VALUE_DTYPES = ("float32", "float16")  # torch dtypes graph files may store values in (float16: half the bytes)
# bumped whenever the graph of a NeRF or its file layout changes; graph files and caches record it
# (wsrl.graph.files). 2: values stored apart from per-structure templates; 3: string columns as one JSON text each
SCHEMA_VERSION = 3


class NodeColumn(IntEnum):
    """Columns of ``x``."""

    LAYER = 0
    POSITION = 1
    TYPE = 2


class EdgeColumn(IntEnum):
    """Columns of ``edge_attr`` (``POSITION`` is the first of three)."""

    VALUE = 0
    LAYER = 1
    TYPE = 2
    POSITION = 3


EDGE_POSITION = slice(EdgeColumn.POSITION, EdgeColumn.POSITION + 3)
EDGE_COLUMNS = EdgeColumn.POSITION + 3

"""Clusters of similar vectors: connected components of a threshold graph.

Two vectors are joined by an edge when their cosine similarity is at least the
threshold; a cluster is a connected component of that graph, so similarity is
transitive through chains. The n x n similarity matrix is never built: rows are
compared in blocks, each block's edges are folded into a component labelling,
and the block is dropped before the next one.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import numpy.typing as npt

# Cosines are taken in float32 (as the embeddings are stored), and rounding the
# components of a unit vector to float32 alone moves a cosine by up to ~1e-7;
# matrix products add a little more in high dimensions. A pair that is exactly
# at the threshold must not fall out because of that, so the comparison allows
# this much below it.
SIMILARITY_TOLERANCE = 1e-6

DEFAULT_BLOCK = 1024

# Edges merged at once; bounds the memory a dense block needs.
MAX_MERGE_EDGES = 1 << 18


def connected_clusters(
    vectors: npt.NDArray[np.floating], threshold: float, block: int = DEFAULT_BLOCK
) -> list[list[int]]:
    """Group rows into the connected components of the ``cosine >= threshold`` graph.

    Args:
        vectors: an ``(n, dim)`` array of L2-normalised rows (zero rows are
            allowed and join nothing); dot products are taken as cosines.
        threshold: the least similarity that joins two rows (inclusive, within
            :data:`SIMILARITY_TOLERANCE`).
        block: rows compared at once. Peak memory beyond a float32 copy of the
            input is about ``block x n x 5`` bytes (float32 similarities, then
            their mask) plus at most ``max(MAX_MERGE_EDGES, n)`` edges at a
            time, however dense the graph; never ``n x n``.

    Returns:
        Every row index exactly once: each cluster sorted ascending, clusters
        ordered by their smallest index, singletons included.
    """
    if vectors.ndim != 2:
        msg = f"vectors must be a 2-D array (n, dim), got shape {vectors.shape}"
        raise ValueError(msg)
    if block < 1:
        msg = f"block must be at least 1 row, got {block}"
        raise ValueError(msg)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    n = matrix.shape[0]
    labels = np.arange(n, dtype=np.int64)
    cutoff = np.float32(threshold - SIMILARITY_TOLERANCE)
    for start in range(0, n, block):
        # Columns before ``start`` are skipped: the blocks holding them already
        # compared those rows with this block's rows.
        mask = (matrix[start : start + block] @ matrix[start:].T) >= cutoff
        labels = _fold_block(labels, mask, start)

    return _groups(labels)


def _fold_block(
    labels: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_], start: int
) -> npt.NDArray[np.int64]:
    """Merge the edges of one block (rows and columns from ``start``) into labels.

    The rows are taken a few at a time, so that no more than about
    :data:`MAX_MERGE_EDGES` edges exist at once, and each batch drops the edges
    whose ends already share a label. In a dense graph the first rows connect
    nearly everything and the later batches find almost no edge left.
    """
    ends = np.cumsum(mask.sum(axis=1, dtype=np.int64))
    row = 0
    while row < len(mask):
        before = int(ends[row - 1]) if row else 0
        stop = max(
            row + 1, int(np.searchsorted(ends, before + MAX_MERGE_EDGES, "right"))
        )
        first = start + row
        fresh = mask[row:stop] & (
            labels[first : start + stop, None] != labels[None, start:]
        )
        rows, cols = np.nonzero(fresh)
        labels = _merge_labels(labels, rows + first, cols + start)
        row = stop

    return labels


def _merge_labels(
    labels: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Labels after adding edges ``rows[k] — cols[k]``.

    Invariant: two rows share a label exactly when the edges seen so far
    connect them, and a component's label is its smallest row index.
    """
    a, b = labels[rows], labels[cols]
    distinct = a != b
    if not distinct.any():
        return labels
    n = len(labels)
    low = np.minimum(a[distinct], b[distinct])
    high = np.maximum(a[distinct], b[distinct])
    pairs = np.unique(low * n + high)
    graph = nx.Graph()
    graph.add_edges_from(zip((pairs // n).tolist(), (pairs % n).tolist(), strict=True))
    remap = np.arange(n, dtype=np.int64)
    for component in nx.connected_components(graph):
        members = np.fromiter(component, dtype=np.int64, count=len(component))
        remap[members] = members.min()

    return remap[labels]


def _groups(labels: npt.NDArray[np.int64]) -> list[list[int]]:
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1

    return [group.tolist() for group in np.split(order, bounds)] if len(order) else []


def mean_pairwise_similarity(vectors: npt.NDArray[np.floating]) -> float:
    """The mean cosine over all pairs of distinct rows, in ``O(n x dim)``.

    For unit rows, the sum of all pairwise dot products is ``|sum v|^2 - sum |v|^2``,
    so no pair is formed. A single row (or none) has no pairs: 1.0.
    """
    k = vectors.shape[0]
    if k < 2:
        return 1.0
    rows = vectors.astype(np.float64)
    total = rows.sum(axis=0)
    pair_sum = float(total @ total) - float(np.einsum("ij,ij->", rows, rows))

    return float(pair_sum / (k * (k - 1)))

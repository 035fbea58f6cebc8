"""Connected components of the cosine threshold graph, computed in blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks import clustering
from tasks.clustering import connected_clusters, mean_pairwise_similarity


def unit(angle: float) -> list[float]:
    """A unit vector in the plane at ``angle`` radians from the first axis."""
    return [math.cos(angle), math.sin(angle), 0.0]


def reference_clusters(vectors: np.ndarray, threshold: np.floating) -> list[list[int]]:
    """Components from the full similarity matrix, by depth-first search."""
    adjacent = (vectors @ vectors.T) >= threshold
    seen: set[int] = set()
    clusters = []
    for root in range(len(vectors)):
        if root in seen:
            continue
        stack, component = [root], []
        seen.add(root)
        while stack:
            node = stack.pop()
            component.append(node)
            for other in np.flatnonzero(adjacent[node]).tolist():
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        clusters.append(sorted(component))

    return clusters


def themed_vectors(seed: int, n: int = 600, dim: int = 24) -> np.ndarray:
    """Unit vectors scattered around a few centroids, plus unrelated noise."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(8, dim))
    picks = rng.integers(0, 9, size=n)
    vectors = rng.normal(size=(n, dim))
    themed = picks < 8
    vectors[themed] = centroids[picks[themed]] + rng.normal(
        scale=0.3, size=(int(themed.sum()), dim)
    )

    unit_rows: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return unit_rows


def test_clusters_join_at_exactly_the_threshold() -> None:
    """A pair whose cosine is exactly 0.8 is joined."""
    vectors = np.array([[1.0, 0.0], [0.8, 0.6]])

    assert connected_clusters(vectors, 0.8, block=1) == [[0, 1]]


def test_clusters_do_not_join_just_below_the_threshold() -> None:
    """A pair whose cosine is 0.7999 stays two singletons."""
    vectors = np.array([unit(0.0), unit(math.acos(0.7999))])

    assert connected_clusters(vectors, 0.8, block=2) == [[0], [1]]


def test_clusters_are_transitive_along_a_chain() -> None:
    """A chain of neighbours at 0.9 forms one cluster although its ends are far."""
    step = math.acos(0.9)
    vectors = np.array([unit(i * step) for i in range(6)])

    assert float(vectors[0] @ vectors[5]) < 0.8
    assert connected_clusters(vectors, 0.8, block=2) == [[0, 1, 2, 3, 4, 5]]


def test_clusters_include_singletons_and_order_by_smallest_index() -> None:
    """Every row appears once; singletons are returned; order is by first member."""
    vectors = np.array([unit(0.0), unit(1.5), unit(0.1), unit(3.0), unit(1.45)])

    assert connected_clusters(vectors, 0.8, block=3) == [[0, 2], [1, 4], [3]]


def test_clusters_ignore_zero_rows() -> None:
    """A zero vector (a text with nothing to embed) is similar to nothing."""
    vectors = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])

    assert connected_clusters(vectors, 0.8) == [[0, 2], [1]]


def test_clusters_of_empty_input_are_empty() -> None:
    """No vectors make no clusters."""
    assert connected_clusters(np.zeros((0, 4)), 0.8) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("block", [1, 7, 64, 599, 600, 5000])
@pytest.mark.parametrize("merge_edges", [1, 97, clustering.MAX_MERGE_EDGES])
def test_clusters_blocked_equal_the_full_matrix(
    seed: int, block: int, merge_edges: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any block size and edge batch give the components of the full matrix."""
    monkeypatch.setattr(clustering, "MAX_MERGE_EDGES", merge_edges)
    vectors = themed_vectors(seed).astype(np.float32)

    expected = reference_clusters(vectors, np.float32(0.8 - 1e-6))

    assert connected_clusters(vectors, 0.8, block=block) == expected
    assert 1 < len(expected) < len(vectors)


def test_clusters_of_a_dense_graph_merge_in_small_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of identical rows (every pair an edge) form one cluster."""
    monkeypatch.setattr(clustering, "MAX_MERGE_EDGES", 10_000)
    vectors = np.zeros((3001, 4), dtype=np.float32)
    vectors[:3000, 0] = 1.0
    vectors[3000, 1] = 1.0

    assert connected_clusters(vectors, 0.8, block=512) == [list(range(3000)), [3000]]


def test_clusters_refuse_a_bad_shape_or_block() -> None:
    """A 1-D array or a block below 1 is refused with the reason."""
    with pytest.raises(ValueError, match="2-D"):
        connected_clusters(np.zeros(3), 0.8)
    with pytest.raises(ValueError, match="block"):
        connected_clusters(np.zeros((3, 2)), 0.8, block=0)


def test_mean_pairwise_similarity_matches_all_pairs() -> None:
    """The closed form equals the mean over all distinct pairs."""
    vectors = themed_vectors(4, n=40)
    products = vectors @ vectors.T
    expected = (products.sum() - np.trace(products)) / (40 * 39)

    assert mean_pairwise_similarity(vectors) == pytest.approx(expected, abs=1e-12)
    assert mean_pairwise_similarity(vectors[:1]) == 1.0

"""Benchmark: cluster 50,000 correction embeddings at cosine >= 0.8.

Builds synthetic corrections (recurring themes, each phrased with a few words
changed, plus unrelated noise), embeds them with the local embedder (or draws
vectors around theme centroids with ``--source vectors``), clusters them as the
``cluster`` step does, and prints time, peak memory and cluster figures.

    .venv/bin/python -m bench.cluster_50k [--n 50000] [--block 1024]
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import tracemalloc
from collections import Counter

import numpy as np
import numpy.typing as npt

from bench.arguments import fraction, positive_int, script_parser
from tasks.clustering import connected_clusters
from tasks.providers.local import HashingEmbedder

THRESHOLD = 0.8


def synthetic_texts(n: int, themes: int, noise: float, seed: int) -> list[str]:
    """Corrections: a theme's sentence with 0-2 words swapped, or random words."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    sentences = rng.integers(len(vocabulary), size=(themes, 14))
    texts = []
    for _ in range(n):
        if rng.random() < noise:
            words = rng.integers(len(vocabulary), size=14)
        else:
            words = sentences[rng.integers(themes)].copy()
            swaps = rng.integers(0, 3)
            words[rng.integers(0, 14, size=swaps)] = rng.integers(5000, size=swaps)
        texts.append(" ".join(vocabulary[w] for w in words.tolist()))

    return texts


def synthetic_vectors(
    n: int, themes: int, noise: float, dim: int, seed: int
) -> npt.NDArray[np.float32]:
    """Unit vectors near theme centroids (cosine to centroid ~0.9), plus noise."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(themes, dim))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    vectors = rng.normal(size=(n, dim)) / np.sqrt(dim)
    themed = rng.random(n) >= noise
    picks = rng.integers(themes, size=int(themed.sum()))
    vectors[themed] = centroids[picks] + 0.45 * vectors[themed]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    return np.asarray(vectors, dtype=np.float32)


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument(
        "--n", type=positive_int, default=50_000, help="corrections to cluster"
    )
    parser.add_argument(
        "--block", type=positive_int, default=1024, help="rows compared at a time"
    )
    parser.add_argument(
        "--themes", type=positive_int, default=400, help="recurring themes"
    )
    parser.add_argument(
        "--noise",
        type=fraction,
        default=0.2,
        help="share of corrections that restate no theme",
    )
    parser.add_argument(
        "--source",
        choices=["texts", "vectors"],
        default="texts",
        help="embed generated texts, or generate vectors directly",
    )
    parser.add_argument(
        "--dim", type=positive_int, default=512, help="embedding dimensions"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args()
    out = sys.stdout

    started = time.perf_counter()
    if args.source == "texts":
        texts = synthetic_texts(args.n, args.themes, args.noise, args.seed)
        vectors = asyncio.run(HashingEmbedder(args.dim).embed(texts))
    else:
        vectors = synthetic_vectors(
            args.n, args.themes, args.noise, args.dim, args.seed
        )
    built_s = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    tracemalloc.start()
    started = time.perf_counter()
    clusters = connected_clusters(vectors, THRESHOLD, block=args.block)
    cluster_s = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    sizes = sorted((len(c) for c in clusters), reverse=True)
    buckets = Counter(min(s, 3) for s in sizes)
    out.write(
        f"source={args.source} n={len(vectors)} dim={vectors.shape[1]} "
        f"block={args.block} themes={args.themes} noise={args.noise}\n"
        f"build {built_s:.1f} s, cluster {cluster_s:.2f} s\n"
        f"peak traced while clustering {peak / 2**20:.0f} MiB "
        f"(input {vectors.nbytes / 2**20:.0f} MiB; a full n x n float32 matrix "
        f"would be {len(vectors) ** 2 * 4 / 2**30:.1f} GiB)\n"
        f"max RSS {rss_before / 1024:.0f} MiB before clustering, "
        f"{rss_after / 1024:.0f} MiB after\n"
        f"components {len(sizes)}: singletons {buckets[1]}, pairs {buckets[2]}, "
        f"3 or more {buckets[3]}; largest {sizes[:5]}\n"
    )


if __name__ == "__main__":
    main()

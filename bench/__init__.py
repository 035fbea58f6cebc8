"""Benchmarks of the engine against raw arq, and of the jobs at scale.

``python -m bench.run_all`` runs them all against the PostgreSQL and Redis named
by ``DATABASE_URL`` and ``REDIS_URL`` and prints one table (see
:mod:`bench.run_all`). Each benchmark is its own module; ``cluster_50k`` and
``health_1m`` also run on their own (``python -m bench.health_1m``).
"""

"""Benchmarks of the engine against raw arq, and of the jobs at scale.

``python -m bench.run_all`` runs them all against the PostgreSQL and Redis named
by ``DATABASE_URL`` and ``REDIS_URL`` and prints one table (see
:mod:`bench.run_all`). Each benchmark is its own module; ``cluster_50k.py`` and
``health_1m.py`` are also scripts of their own.
"""

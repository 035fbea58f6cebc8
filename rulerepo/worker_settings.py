"""arq-style settings, so ``arq --check rulerepo.worker_settings.WorkerSettings`` works.

``rulerepo worker`` is the supported way to run a worker (it adds the wake channel,
the sweep and the heartbeats); these settings exist for arq's own tooling, which
reads the queue name and Redis address from them. Importing this module resolves
the servers from the environment (starting the embedded ones if unset).
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.executor import (
    attempt_function,
    json_dumps,
    json_loads,
    redis_settings,
)
from rulerepo import app as composition

_deployment = composition.resolve()


class WorkerSettings:
    """What ``arq`` needs to find this deployment's queue and function."""

    functions: ClassVar[list[Any]] = [attempt_function()]
    queue_name = _deployment.settings.queue_name
    redis_settings = redis_settings(_deployment.redis_url)
    job_serializer = staticmethod(json_dumps)
    job_deserializer = staticmethod(json_loads)
    health_check_interval = 60

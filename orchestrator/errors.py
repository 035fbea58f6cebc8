"""The engine's exceptions.

::

    OrchestratorError
    ├── GraphValidationError        a graph or expansion is not a valid DAG
    │   └── GraphCycleError         ... because it has a cycle (``nodes`` names it)
    ├── UnknownGraphError           no graph of that name is registered
    ├── RunNotFoundError            no run with that id
    ├── StepNotFoundError           the run has no step with that key
    ├── StepNotRetryableError       retry or re-run refused in the step's state
    ├── RunInProgressError          the graph's concurrency limit is reached
    ├── RunFinishedError            the action needs a run that is still going
    └── StepTimeoutError            an attempt outlived its timeout
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence


class OrchestratorError(Exception):
    """Root of every error the engine raises on purpose."""


class GraphValidationError(OrchestratorError):
    """A graph definition or an expansion is not a valid DAG of known tasks."""


class GraphCycleError(GraphValidationError):
    """A graph or lineage has a cycle; ``nodes`` lists it in order."""

    def __init__(self, message: str, nodes: Sequence[str]) -> None:
        super().__init__(message)
        self.nodes = list(nodes)


class UnknownGraphError(OrchestratorError):
    """No graph with this name is registered in this deployment."""

    def __init__(self, graph_name: str, known: Sequence[str]) -> None:
        msg = f"no graph named {graph_name!r}; known graphs: {', '.join(sorted(known))}"
        super().__init__(msg)
        self.graph_name = graph_name


class RunNotFoundError(OrchestratorError):
    """No run with this id exists (it may have been pruned)."""

    def __init__(self, run_id: uuid.UUID | str) -> None:
        super().__init__(f"no run with id {run_id}")
        self.run_id = run_id


class StepNotFoundError(OrchestratorError):
    """The run has no step with this key."""

    def __init__(self, run_id: uuid.UUID, step_key: str) -> None:
        super().__init__(f"run {run_id} has no step {step_key!r}")
        self.run_id = run_id
        self.step_key = step_key


class StepNotRetryableError(OrchestratorError):
    """The step's state does not allow the requested retry or re-run."""

    def __init__(self, message: str, run_id: uuid.UUID, step_key: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.step_key = step_key


class RunInProgressError(OrchestratorError):
    """The graph already has as many runs in progress as it allows."""

    def __init__(self, graph_name: str, running: Sequence[uuid.UUID]) -> None:
        ids = ", ".join(str(r) for r in running)
        msg = (
            f"graph {graph_name!r} already has a run in progress ({ids}); wait for it "
            "to finish or cancel it"
        )
        super().__init__(msg)
        self.graph_name = graph_name
        self.running = list(running)


class RunFinishedError(OrchestratorError):
    """The action needs a run that has not finished."""

    def __init__(self, run_id: uuid.UUID, status: str) -> None:
        super().__init__(f"run {run_id} has already finished with status {status}")
        self.run_id = run_id
        self.status = status


class StepTimeoutError(OrchestratorError):
    """An attempt ran past its step's timeout."""

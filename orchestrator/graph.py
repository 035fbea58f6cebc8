"""Graphs, steps, retry policies and expansions, validated when defined.

A :class:`Graph` is a named DAG of :class:`Step` nodes (a networkx ``DiGraph``
underneath). A step names a task: an async function registered with :func:`task`
that takes a :class:`~orchestrator.context.StepContext` and returns a small
JSON-serialisable output, or an :class:`Expansion` that adds steps to its run.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import networkx as nx
from croniter import croniter

from orchestrator.errors import GraphCycleError, GraphValidationError

if TYPE_CHECKING:
    from orchestrator.context import StepContext

TaskFn: TypeAlias = Callable[["StepContext"], Awaitable[Any]]

_TASKS: dict[str, TaskFn] = {}


def task(name: str | None = None) -> Callable[[TaskFn], TaskFn]:
    """Register an async function as a task under ``name`` (default: its name).

    A task's name is what a run records, so renaming one makes steps of runs
    started before the rename fail with "task no longer exists".
    """

    def register(fn: TaskFn) -> TaskFn:
        key = name or fn.__name__
        existing = _TASKS.get(key)
        if existing is not None and existing is not fn:
            msg = f"task name {key!r} is already registered by {existing.__module__}"
            raise GraphValidationError(msg)
        _TASKS[key] = fn
        fn.task_name = key  # type: ignore[attr-defined]
        return fn

    return register


def get_task(name: str) -> TaskFn | None:
    """The registered task of this name, or ``None`` if it no longer exists."""
    return _TASKS.get(name)


def task_name(fn: TaskFn | str) -> str:
    """The registered name of a task function (or the name itself)."""
    if isinstance(fn, str):
        return fn
    name = getattr(fn, "task_name", None)
    if name is None:
        msg = f"{fn.__qualname__} is not a registered task; decorate it with @task()"
        raise GraphValidationError(msg)
    return str(name)


# Errors that retrying cannot fix: a bad graph stays bad.
ALWAYS_FATAL = ("GraphValidationError",)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed step is tried again.

    Attributes:
        max_attempts: attempts in one budget (a manual retry grants a new budget).
        backoff: delay before the second attempt; doubles for each later one.
        max_backoff: cap on the delay.
        jitter: fraction of the delay drawn at random (0 turns jitter off).
        retry_on: exception class names (any class in the error's MRO) that are
            retried; ``"Exception"`` retries everything not in ``give_up_on``.
        give_up_on: exception class names never retried.
    """

    max_attempts: int = 3
    backoff: timedelta = timedelta(seconds=1)
    max_backoff: timedelta = timedelta(minutes=5)
    jitter: float = 0.5
    retry_on: tuple[str, ...] = ("Exception",)
    give_up_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            msg = f"max_attempts must be at least 1, got {self.max_attempts}"
            raise GraphValidationError(msg)
        if not 0 <= self.jitter <= 1:
            msg = f"jitter must be between 0 and 1, got {self.jitter}"
            raise GraphValidationError(msg)

    def to_json(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "backoff_s": self.backoff.total_seconds(),
            "max_backoff_s": self.max_backoff.total_seconds(),
            "jitter": self.jitter,
            "retry_on": list(self.retry_on),
            "give_up_on": list(self.give_up_on),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetryPolicy:
        return cls(
            max_attempts=int(data["max_attempts"]),
            backoff=timedelta(seconds=float(data["backoff_s"])),
            max_backoff=timedelta(seconds=float(data["max_backoff_s"])),
            jitter=float(data["jitter"]),
            retry_on=tuple(data["retry_on"]),
            give_up_on=tuple(data["give_up_on"]),
        )


def is_retryable(policy_json: Mapping[str, Any], exc: BaseException) -> bool:
    """Whether ``exc`` may be retried under a stored policy (by class names)."""
    names = {c.__name__ for c in type(exc).__mro__}
    names |= {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}
    if names & set(ALWAYS_FATAL) or names & set(policy_json.get("give_up_on", ())):
        return False
    return bool(names & set(policy_json.get("retry_on", ("Exception",))))


def backoff_delay(
    policy_json: Mapping[str, Any], attempt_in_budget: int, rng: random.Random | None
) -> float:
    """Seconds to wait before try ``attempt_in_budget + 1`` (exponential, jittered)."""
    base = float(policy_json["backoff_s"]) * 2.0 ** max(0, attempt_in_budget - 1)
    delay = min(base, float(policy_json["max_backoff_s"]))
    jitter = float(policy_json["jitter"])
    draw = float((rng or random).random())

    return delay * (1 - jitter) + delay * jitter * draw


@dataclass(frozen=True)
class Step:
    """A node of a graph: a task with its retry policy, timeout and parameters."""

    key: str
    task: TaskFn | str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: timedelta = timedelta(minutes=10)
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def task_name(self) -> str:
        return task_name(self.task)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "task": self.task_name,
            "retry": self.retry.to_json(),
            "timeout_s": self.timeout.total_seconds(),
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Expansion:
    """What a task returns to add steps to its own run.

    New steps with no predecessor among the new ones run after the expanding
    step; the expanding step's own successors wait for every new step with no
    successor among the new ones. ``edges`` are ``(upstream, downstream)`` pairs
    between new step keys.
    """

    steps: Sequence[Step]
    edges: Sequence[tuple[str, str]] = ()
    output: Any = None


def _check_keys(steps: Iterable[Step]) -> dict[str, Step]:
    by_key: dict[str, Step] = {}
    for step in steps:
        if not step.key or len(step.key) > 300:
            msg = f"step key {step.key!r} must be 1 to 300 characters"
            raise GraphValidationError(msg)
        if step.key in by_key:
            msg = f"step key {step.key!r} is defined twice"
            raise GraphValidationError(msg)
        if get_task(step.task_name) is None:
            msg = f"step {step.key!r} names task {step.task_name!r}, which is not registered"
            raise GraphValidationError(msg)
        by_key[step.key] = step
    return by_key


def check_acyclic(graph: nx.DiGraph, what: str) -> None:
    """Raise :class:`GraphCycleError` naming one cycle of ``graph`` if it has one."""
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    nodes = [str(edge[0]) for edge in cycle]
    msg = f"{what} has a cycle: {' -> '.join([*nodes, nodes[0]])}"
    raise GraphCycleError(msg, nodes)


def build_dag(
    keys: Iterable[str], edges: Iterable[tuple[str, str]], what: str
) -> nx.DiGraph:
    """A DiGraph of ``keys``, refusing edges to unknown keys and cycles."""
    dag = nx.DiGraph()
    dag.add_nodes_from(keys)
    for upstream, downstream in edges:
        for end in (upstream, downstream):
            if end not in dag:
                msg = f"{what}: edge {upstream!r} -> {downstream!r} names unknown step {end!r}"
                raise GraphValidationError(msg)
        dag.add_edge(upstream, downstream)
    check_acyclic(dag, what)

    return dag


class Graph:
    """A named DAG of steps, validated when it is defined.

    Args:
        name: the graph's name, unique in a deployment.
        steps: its steps.
        edges: ``(upstream, downstream)`` step keys.
        schedule: a five-field cron expression in ``SCHEDULE_TIMEZONE``, or None.
        max_active_runs: runs of this graph allowed in progress at once.
        params_schema: names of the run parameters the graph accepts, with defaults.
        future_logical_time: whether a logical time in the future is accepted.
        description: one line shown in listings.
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[Step],
        edges: Sequence[tuple[str, str]] = (),
        *,
        schedule: str | None = None,
        max_active_runs: int = 1,
        params_schema: Mapping[str, Any] | None = None,
        future_logical_time: bool = True,
        description: str = "",
    ) -> None:
        self.name = name
        self.steps = _check_keys(steps)
        self.edges = list(edges)
        self.dag = build_dag(self.steps, self.edges, f"graph {name!r}")
        if schedule is not None and (
            len(schedule.split()) not in (5, 6) or not croniter.is_valid(schedule)
        ):
            msg = (
                f"graph {name!r}: schedule {schedule!r} is not a valid cron expression;"
                " use five fields 'minute hour day-of-month month day-of-week'"
            )
            raise GraphValidationError(msg)
        self.schedule = schedule
        if max_active_runs < 1:
            msg = f"graph {name!r}: max_active_runs must be at least 1"
            raise GraphValidationError(msg)
        self.max_active_runs = max_active_runs
        self.params_schema = dict(params_schema or {})
        self.future_logical_time = future_logical_time
        self.description = description
        self._record_definition()

    def _record_definition(self) -> None:
        """Make what a run records, once: a graph does not change once defined,
        and a trigger should not pay for its size."""
        order = self.topological_keys()
        definition = {
            "name": self.name,
            "steps": [self.steps[k].to_json() for k in order],
            "edges": [list(e) for e in self.edges],
            "schedule": self.schedule,
            "max_active_runs": self.max_active_runs,
        }
        self.definition_text = json.dumps(definition)
        raw = json.dumps(definition, sort_keys=True).encode()
        self.definition_hash = hashlib.sha256(raw).hexdigest()[:16]
        # For each step of the definition, in order: has it no predecessor?
        self.root_flags = [self.dag.in_degree(k) == 0 for k in order]

    def definition(self) -> dict[str, Any]:
        """The JSON definition a run records and keeps executing."""
        value: dict[str, Any] = json.loads(self.definition_text)
        return value

    def predecessors(self, key: str) -> list[str]:
        return list(self.dag.predecessors(key))

    def topological_keys(self) -> list[str]:
        return list(nx.topological_sort(self.dag))


def validate_expansion(
    expander: str,
    existing: Mapping[str, list[str]],
    expansion: Expansion,
) -> nx.DiGraph:
    """Check an expansion against the run's current steps and edges.

    Args:
        expander: key of the step that returned the expansion.
        existing: every current step key of the run with its successors.
        expansion: the new steps and edges.

    Returns:
        The run's whole DAG after expansion.
    """
    new = _check_keys(expansion.steps)
    clash = sorted(set(new) & set(existing))
    if clash:
        msg = f"expansion by {expander!r} reuses existing step keys: {', '.join(clash[:5])}"
        raise GraphValidationError(msg)
    build_dag(new, expansion.edges, f"expansion by step {expander!r}")
    dag = nx.DiGraph()
    for key, successors in existing.items():
        dag.add_node(key)
        dag.add_edges_from((key, s) for s in successors)
    for upstream, downstream in expansion_edges(expander, existing, expansion):
        dag.add_edge(upstream, downstream)
    check_acyclic(dag, f"run after expansion by {expander!r}")

    return dag


def expansion_edges(
    expander: str, existing: Mapping[str, list[str]], expansion: Expansion
) -> list[tuple[str, str]]:
    """All edges an expansion adds, including those to and from ``expander``."""
    keys = [s.key for s in expansion.steps]
    has_pred = {d for _, d in expansion.edges}
    has_succ = {u for u, _ in expansion.edges}
    edges = list(expansion.edges)
    edges += [(expander, k) for k in keys if k not in has_pred]
    for successor in existing.get(expander, []):
        edges += [(k, successor) for k in keys if k not in has_succ]

    return edges

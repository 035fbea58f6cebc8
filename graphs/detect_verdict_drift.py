"""detect_verdict_drift: replay canaries and alert when verdicts drift."""

from datetime import timedelta

from orchestrator.graph import Graph, Step
from tasks.notify import notify_critical_alerts
from tasks.verdict_drift import detect_drift, replay_canaries

GRAPH = Graph(
    "detect_verdict_drift",
    steps=[
        Step("replay", replay_canaries, timeout=timedelta(minutes=30)),
        Step("detect", detect_drift),
        Step("notify", notify_critical_alerts),
    ],
    edges=[("replay", "detect"), ("detect", "notify")],
    schedule="30 4 * * *",
    description=(
        "Replay each active rule's canaries; verdict_drift (critical) when over 20% "
        "differ or the deny share moved by 0.2 since the previous replay"
    ),
)

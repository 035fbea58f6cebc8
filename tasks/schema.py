"""The Rule Repository's domain tables (DESIGN §4 and §6).

Norm and rule ids share one namespace because ``derives_from`` mixes them; the
``lineage`` table holds every DERIVES_FROM edge, whatever the kinds at its ends.
Job outputs are keyed by subject and logical time so that a job run twice for the
same logical time writes the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class DomainBase(DeclarativeBase):
    """Declarative base of the domain tables."""

    metadata = MetaData(naming_convention=NAMING)


class Norm(DomainBase):
    """An upstream norm (a CWE weakness, a NIST section, a policy clause)."""

    __tablename__ = "norms"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(50), default="snapshot")
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class Rule(DomainBase):
    """A governance rule evaluated by an LLM (allow or deny)."""

    __tablename__ = "rules"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    maturity: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    deprecated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    review_interval_days: Mapped[int] = mapped_column(Integer)
    last_reviewed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    review_requested_at: Mapped[datetime | None] = mapped_column(Timestamp)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    scope: Mapped[str] = mapped_column(String(200))
    effect: Mapped[str] = mapped_column(String(10))
    pattern: Mapped[str | None] = mapped_column(Text)
    required_locales: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    examples: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    source: Mapped[str] = mapped_column(String(50), default="snapshot")
    origin_proposal_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_rules_status", "status"),
        Index("ix_rules_scope_effect", "scope", "effect"),
    )


class Translation(DomainBase):
    """A rule's text in another locale, made from one version of the source."""

    __tablename__ = "translations"

    rule_id: Mapped[str] = mapped_column(
        ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str] = mapped_column(String(20), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    source_version: Mapped[int] = mapped_column(Integer)


class Lineage(DomainBase):
    """A DERIVES_FROM edge: ``child_id`` derives from ``parent_id``."""

    __tablename__ = "lineage"

    child_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    parent_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    child_kind: Mapped[str] = mapped_column(String(10))
    parent_kind: Mapped[str] = mapped_column(String(10))

    __table_args__ = (Index("ix_lineage_parent", "parent_id"),)


class Evaluation(DomainBase):
    """One verdict of one rule on one input."""

    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_evaluations_rule_created", "rule_id", "created_at"),
        Index("ix_evaluations_created", "created_at"),
    )


class Judgment(DomainBase):
    """A human review of an evaluation; ``rule_id`` is copied from it."""

    __tablename__ = "judgments"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    evaluation_id: Mapped[str] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    rule_id: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_judgments_rule_created", "rule_id", "created_at"),
        Index("ix_judgments_evaluation", "evaluation_id"),
    )


class Correction(DomainBase):
    """A human correction of a verdict, with a summary of what should change."""

    __tablename__ = "corrections"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str | None] = mapped_column(String(200))
    evaluation_id: Mapped[str | None] = mapped_column(String(200))
    analysis_type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(50))
    delta_summary: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    processed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    proposal_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_corrections_status_created", "status", "created_at"),
        Index("ix_corrections_created", "created_at"),
    )


class CorrectionEmbedding(DomainBase):
    """A cached embedding of a correction's delta summary, per model."""

    __tablename__ = "correction_embeddings"

    correction_id: Mapped[str] = mapped_column(
        ForeignKey("corrections.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class Canary(DomainBase):
    """A stored input with the verdict its rule is expected to give."""

    __tablename__ = "canaries"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    input: Mapped[str] = mapped_column(Text)
    expected_verdict: Mapped[str] = mapped_column(String(10))

    __table_args__ = (Index("ix_canaries_rule", "rule_id"),)


class ReplayResult(DomainBase):
    """One canary replayed through the evaluator at one logical time."""

    __tablename__ = "replay_results"

    canary_id: Mapped[str] = mapped_column(
        ForeignKey("canaries.id", ondelete="CASCADE"), primary_key=True
    )
    logical_time: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str | None] = mapped_column(String(10))
    evaluable: Mapped[bool] = mapped_column(Boolean)
    provider: Mapped[str] = mapped_column(String(50))

    __table_args__ = (Index("ix_replay_results_rule_time", "rule_id", "logical_time"),)


class Alert(DomainBase):
    """A condition a job found; at most one open or acknowledged per subject."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(10))
    rule_id: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(Timestamp)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    notified_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index(
            "uq_alerts_open_subject",
            "kind",
            "subject",
            unique=True,
            postgresql_where=text("status IN ('open', 'acknowledged')"),
        ),
        Index("ix_alerts_status_id", "status", "id"),
    )


class Recommendation(DomainBase):
    """A suggestion for one rule, keyed by kind, subject and logical time."""

    __tablename__ = "recommendations"

    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    subject: Mapped[str] = mapped_column(String(500), primary_key=True)
    logical_time: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(200))
    rationale: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Proposal(DomainBase):
    """A draft rule from a cluster of corrections, awaiting a reviewer."""

    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    rationale: Mapped[str] = mapped_column(Text)
    correction_ids: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    logical_time: Mapped[datetime] = mapped_column(Timestamp)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    review_note: Mapped[str | None] = mapped_column(Text)
    rule_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_proposals_status_id", "status", "id"),)


class HealthScore(DomainBase):
    """The six health dimensions of one rule at one logical time."""

    __tablename__ = "health_scores"

    rule_id: Mapped[str] = mapped_column(
        ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True
    )
    logical_time: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    activity: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    effectiveness: Mapped[float] = mapped_column(Float)
    freshness: Mapped[float] = mapped_column(Float)
    stability: Mapped[float] = mapped_column(Float)
    coverage: Mapped[float] = mapped_column(Float)
    overall: Mapped[float] = mapped_column(Float)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class MaturityChange(DomainBase):
    """One promotion or demotion of a rule, with its reason and figures."""

    __tablename__ = "maturity_history"

    rule_id: Mapped[str] = mapped_column(
        ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True
    )
    logical_time: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    from_maturity: Mapped[str] = mapped_column(String(20))
    to_maturity: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Amendment(DomainBase):
    """An amendment of a norm, identified by (norm, version)."""

    __tablename__ = "amendments"

    norm_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(Timestamp)
    run_id: Mapped[str | None] = mapped_column(String(64))


class AmendmentNotice(DomainBase):
    """A note on a norm or rule that an upstream norm it derives from changed."""

    __tablename__ = "amendment_notices"

    node_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    norm_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_kind: Mapped[str] = mapped_column(String(10))
    depth: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    logical_time: Mapped[datetime] = mapped_column(Timestamp)
    run_id: Mapped[str | None] = mapped_column(String(64))


class Digest(DomainBase):
    """The weekly digest for the week ending at ``logical_time``."""

    __tablename__ = "digests"

    logical_time: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    markdown: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)


class CorrectionStat(DomainBase):
    """Corrections counted by analysis type and status for one hour bucket."""

    __tablename__ = "correction_stats"

    bucket_start: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    analysis_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(50), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)

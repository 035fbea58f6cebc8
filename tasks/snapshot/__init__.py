"""Repository snapshots (DESIGN §6): the document, its checks, and loading it.

A snapshot is one JSON object with the keys ``locales``, ``norms``, ``rules``,
``evaluations``, ``judgments``, ``corrections`` and ``canaries``. Loading it is all
or nothing: the whole document is checked first, its shape with pydantic and then
every cross-record rule against the snapshot and the database together, and a
document with even one problem is refused with a :class:`SnapshotError` that lists
each problem with its path (``rules[3].derives_from[0]: unknown id 'N-9'``) before
anything is written.

The cross-record rules:

- ids are unique within a kind; norms and rules share one namespace, so a norm
  and a rule may not share an id, in the snapshot or with the database;
- references name a record of the snapshot or of the database: an evaluation's or
  a canary's rule, a judgment's evaluation, a correction's rule and evaluation
  (and when it gives both, the evaluation belongs to that rule), a rule's
  ``derives_from`` (norms or rules) and a norm's ``derives_from`` (norms only);
- every locale a rule names (its own, its required ones, its translations') is
  listed in ``locales``; a rule has at most one translation per locale, none into
  its own locale, and none made from a version newer than the rule's;
- the lineage stays acyclic, also together with the edges already stored.

A valid snapshot is written in the caller's transaction with
``INSERT ... ON CONFLICT DO NOTHING``: records already stored keep their state (the
jobs own it: maturity, processed corrections, reviews), and only new rows are
added. That holds for translations and lineage edges too, which are added to an
existing rule when they are new. A judgment's ``rule_id`` is copied from its
evaluation as stored, or from the snapshot when the evaluation is new.

Two loads running at the same time do not see each other's uncommitted lineage,
so together they could close a cycle that neither closes alone; the planning step
of norm propagation checks the stored lineage again for that reason.
"""

from tasks.snapshot.checks import (
    KnownRecords,
    check_snapshot,
    snapshot_edges,
    validate_snapshot,
)
from tasks.snapshot.document import (
    SHOWN_ERRORS,
    SnapshotError,
    parse_snapshot,
    read_snapshot_file,
)
from tasks.snapshot.loading import (
    LoadReport,
    fetch_known_records,
    load_snapshot,
)
from tasks.snapshot.records import (
    CanaryRecord,
    CorrectionRecord,
    Effect,
    EvaluationRecord,
    ExampleRecord,
    Id,
    JudgmentRecord,
    Locale,
    Maturity,
    NormRecord,
    Outcome,
    RuleRecord,
    RuleStatus,
    Snapshot,
    Text,
    Timestamp,
    TranslationRecord,
    Verdict,
    Version,
)

__all__ = [
    "SHOWN_ERRORS",
    "CanaryRecord",
    "CorrectionRecord",
    "Effect",
    "EvaluationRecord",
    "ExampleRecord",
    "Id",
    "JudgmentRecord",
    "KnownRecords",
    "LoadReport",
    "Locale",
    "Maturity",
    "NormRecord",
    "Outcome",
    "RuleRecord",
    "RuleStatus",
    "Snapshot",
    "SnapshotError",
    "Text",
    "Timestamp",
    "TranslationRecord",
    "Verdict",
    "Version",
    "check_snapshot",
    "fetch_known_records",
    "load_snapshot",
    "parse_snapshot",
    "read_snapshot_file",
    "snapshot_edges",
    "validate_snapshot",
]

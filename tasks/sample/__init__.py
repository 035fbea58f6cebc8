"""A realistic sample repository, generated deterministically (DESIGN §6).

``generate_sample`` builds a snapshot in the format ``rulerepo load`` reads: norms in
a four-level hierarchy (code of conduct, frameworks, articles, clauses), a few hundred
rules over seven scopes and five locales, 90 days of evaluations and judgments, human
corrections and canary inputs. The data is shaped so that every threshold of the
scheduled jobs (DESIGN §4) trips on some rules and not on others: busy, dormant,
never-denying, noisy, ineffective and shifting rules; stale, missing and defective
translations; overdue reviews; deprecated rules old enough to archive, some under
legal hold; rules in conflict; broken code examples; canaries that drift; and
corrections that fall into recurring themes beside one-off noise.

Everything derives from one seeded ``random.Random``: the same ``now``, ``seed`` and
``rules`` always give the same document. Canary verdicts assume the local
evaluator's reading of a pattern: ``re.search`` with the pattern's inline flags,
deny on a match.
"""

from tasks.sample.catalogue.themes import THEMES, CorrectionTheme
from tasks.sample.document import generate_sample, write_sample

__all__ = ["THEMES", "CorrectionTheme", "generate_sample", "write_sample"]

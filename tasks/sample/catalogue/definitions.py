"""What the catalogue is made of: scopes and the rule templates within them."""

from dataclasses import dataclass

from tasks.sample.catalogue.phrases import L5


@dataclass(frozen=True)
class Scope:
    """A field of governance: its rule-id code, drawing weight and contexts."""

    name: str
    code: str
    weight: float
    contexts: tuple[L5, ...]
    """Where a scope's rules apply, with German nouns that read alike in any case."""


@dataclass(frozen=True)
class RuleTemplate:
    """A family of rules: its wording per locale, pattern and canary inputs.

    ``title`` is in en, de and fr (the source locales), ``text`` in every locale.
    Both use ``$name`` slots; ``{name}`` placeholders are part of the rule text.
    """

    key: str
    scope: str
    effect: str
    norms: tuple[str, ...]
    pattern: str | None
    codes: tuple[str, ...]
    title: tuple[str, str, str]
    text: L5
    deny_inputs: tuple[str, ...]
    allow_inputs: tuple[str, ...]
    numbers: tuple[int, ...] = (3,)
    amounts: tuple[int, ...] = (1000,)

"""The seven scopes of the sample and their rule templates, in drawing order.

The order matters: rules are drawn from ``SCOPES`` by weight and from each
scope's templates by position, so reordering changes every generated document.
"""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.scopes import (
    ai_governance,
    content_moderation,
    data_privacy,
    finance,
    hr,
    procurement,
    security,
)

_MODULES = (
    data_privacy,
    security,
    finance,
    hr,
    content_moderation,
    procurement,
    ai_governance,
)

SCOPES: tuple[Scope, ...] = tuple(module.SCOPE for module in _MODULES)
TEMPLATES: tuple[RuleTemplate, ...] = tuple(
    template for module in _MODULES for template in module.TEMPLATES
)

"""Prometheus metrics of the classifier."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

CLASSIFICATIONS: Final = Counter(
    "cr_classifications_total", "Failures classified, by taxonomy class", ["failure_class"]
)
RULE_ERRORS: Final = Counter(
    "cr_classifier_rule_errors_total", "Custom rules rejected while loading", ["source"]
)
RULE_RELOADS: Final = Counter(
    "cr_classifier_rule_reloads_total", "Custom rule sets (re)loaded", ["source"]
)

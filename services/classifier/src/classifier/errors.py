"""Errors of the classifier service, classified by what the caller should do.

ClassifierError
└── RuleDefinitionError   a rule (or rules document) is malformed; it is reported and skipped

Classifying never raises: a failure that matches nothing is UNKNOWN, not an error.
"""

from __future__ import annotations


class ClassifierError(Exception):
    """Root of every error raised by the classifier."""

    error_code = "CLASSIFIER_ERROR"


class RuleDefinitionError(ClassifierError):
    """A rule is malformed (bad key, unknown class, unsafe or invalid pattern)."""

    error_code = "RULE_INVALID"

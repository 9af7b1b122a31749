"""The classifier: a job's failure evidence in, one taxonomy class with features and advice out."""

from classifier.engine import Classification, classify

__all__ = ["Classification", "classify"]

"""submitter package."""

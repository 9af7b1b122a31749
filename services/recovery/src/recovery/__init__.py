"""Recovery service: folds every job's events, decides each failure's recovery, keeps the
job read model and the per-backend circuit breakers."""

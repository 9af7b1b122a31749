"""Policy merging and limits; settings from the environment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.policy import RecoveryPolicy
from contracts.taxonomy import FailureClass
from recovery.config import Settings
from recovery.policy import class_limit, deadline, effective, size_floors
from services.recovery.tests.builders import T0


def test_a_job_policy_wins_and_its_tables_merge_with_the_default() -> None:
    default = RecoveryPolicy(
        per_class_limits={"GPU_OOM": 2, "UNKNOWN": 3}, fallback_models={"a": ["b"]}
    )
    job = RecoveryPolicy(
        max_attempts=9, per_class_limits={"GPU_OOM": 5}, fallback_models={"c": ["d"]}
    )
    merged = effective(default, job)
    assert merged.max_attempts == 9
    assert merged.per_class_limits == {"GPU_OOM": 5, "UNKNOWN": 3}
    assert merged.fallback_models == {"a": ["b"], "c": ["d"]}
    assert effective(default, None) is default


def test_class_limits_default_by_class_and_never_classes_get_none() -> None:
    assert class_limit(RecoveryPolicy(), FailureClass.UNKNOWN) == 1
    assert class_limit(RecoveryPolicy(), FailureClass.INVALID_WORKFLOW) == 0
    assert class_limit(RecoveryPolicy(per_class_limits={"UNKNOWN": 4}), FailureClass.UNKNOWN) == 4


def test_deadline_counts_from_submission() -> None:
    assert deadline(RecoveryPolicy(deadline_s=90), T0) == T0 + timedelta(seconds=90)
    assert deadline(RecoveryPolicy(), T0) is None


def test_floors_sit_on_the_latent_grid() -> None:
    assert size_floors(RecoveryPolicy(min_width=300, min_height=250), 16) == (304, 256)


def test_settings_read_grouped_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CR_RECOVERY_POLICY__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("CR_RECOVERY_POLICY__ALLOW_DEGRADATION", "true")
    monkeypatch.setenv("CR_RECOVERY_BREAKER__MIN_CALLS", "4")
    monkeypatch.setenv("CR_RECOVERY_BACKOFF__CAP_S", "30")
    monkeypatch.setenv("CR_NATS_URL", "nats://elsewhere:4222")
    settings = Settings()
    assert settings.policy.policy() == RecoveryPolicy(max_attempts=7, allow_degradation=True)
    assert settings.breaker_config().min_calls == 4
    assert settings.tuning().backoff_cap_s == 30
    assert settings.nats.url == "nats://elsewhere:4222"
    assert settings.health_port is None

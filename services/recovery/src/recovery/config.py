"""Settings of the recovery service (env prefix ``CR_RECOVERY_``, groups split by ``__``)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from contracts.policy import RecoveryPolicy
from cr_runtime.settings import ServiceSettings
from recovery.breaker import BreakerConfig
from recovery.memory import MemoryModel
from recovery.strategies.context import Tuning


class PolicyDefaults(BaseModel):
    """The default recovery policy, until the live one in KV overrides it."""

    max_attempts: int = Field(5, ge=1, description="Dispatches per job, the first included")
    per_class_limits: dict[str, int] = Field(default_factory=dict, description="class → recoveries")
    deadline_s: float | None = Field(None, description="Seconds from submission (None: none)")
    allow_degradation: bool = Field(False, description="May resolution be lowered")
    min_width: int = Field(256, ge=8, description="Smallest width a degraded job may get")
    min_height: int = Field(256, ge=8, description="Smallest height a degraded job may get")
    min_steps: int = Field(8, ge=1, description="Fewest sampler steps a degraded job may get")
    fallback_models: dict[str, list[str]] = Field(
        default_factory=dict, description="JSON: model → ordered replacements an operator allows"
    )
    stall_window_s: float = Field(120.0, gt=0, description="No progress for this long → STALLED")
    max_wait_s: float = Field(
        600.0, ge=0, description="Longest wait for a usable backend (uses no attempt)"
    )

    def policy(self) -> RecoveryPolicy:
        """As the shared value object."""
        return RecoveryPolicy(**self.model_dump())


class BreakerSettings(BaseModel):
    """Circuit breaker thresholds (resilience4j semantics), shared through KV."""

    window_calls: int = Field(20, ge=1, description="Calls of a backend the failure rate counts")
    window_s: float = Field(60.0, gt=0, description="Seconds a call stays in the window")
    min_calls: int = Field(10, ge=1, description="Calls needed before the rate can open it")
    failure_rate: float = Field(0.5, gt=0, le=1, description="Failed share that opens it")
    open_timeout_s: float = Field(30.0, gt=0, description="Open → half-open (one probe) after this")
    max_open_s: float = Field(
        300.0, gt=0, description="Longest open time (it doubles per failed probe)"
    )
    quarantine_s: float = Field(
        10.0, gt=0, description="Open time of a quarantine (a wedged worker being restarted)"
    )
    incident_s: float = Field(30.0, ge=0, description="Crash failures within this count once")
    stall_window_s: float = Field(
        300.0, ge=0, description="A stall counts when another job stalled there within this"
    )
    outlier_margin: float = Field(
        0.25,
        ge=0,
        le=1,
        description="The rate opens it only this far above the rest of the fleet's rate",
    )
    max_ejected_fraction: float = Field(
        0.34, gt=0, le=1, description="Share of the fleet breakers may hold out (at least one)"
    )
    probe_failures: int = Field(
        2,
        ge=1,
        description="Failed probes in half-open before it opens again (one that runs closes it)",
    )
    tick_s: float = Field(5.0, gt=0, description="How often open breakers are checked")


class BackoffSettings(BaseModel):
    """Retry backoff: base * 2**(n-1), ±jitter, capped."""

    base_s: float = Field(2.0, gt=0, description="First retry delay in seconds")
    cap_s: float = Field(120.0, gt=0, description="Longest retry delay in seconds")
    jitter: float = Field(0.25, ge=0, lt=1, description="± share of random jitter per delay")


class MemorySettings(BaseModel):
    """The VRAM fit model (see `recovery.memory`)."""

    margin: float = Field(0.15, ge=0, lt=1, description="Headroom kept when fitting a job")
    usable_fraction: float = Field(0.95, gt=0, le=1, description="Share of VRAM a job may use")
    fixed_share: float = Field(
        0.5, ge=0, lt=1, description="Assumed share of the peak that is model weights"
    )
    blind_fraction: float = Field(
        0.5, gt=0, lt=1, description="Work kept when an OOM gives no numbers"
    )


class Settings(ServiceSettings):
    """Everything the recovery service is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="CR_RECOVERY_", env_nested_delimiter="__", extra="ignore"
    )

    snapshot_interval_s: float | None = Field(
        30.0, description="Seconds between state snapshots in KV (None: replay all at start)"
    )
    lanes: int = Field(
        1,
        ge=1,
        le=4096,
        description="Events in flight at once, one lane per job (> 1: a single instance only)",
    )
    policy: PolicyDefaults = Field(default_factory=PolicyDefaults)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)

    def tuning(self) -> Tuning:
        """The decision knobs as a plain value."""
        return Tuning(
            backoff_base_s=self.backoff.base_s,
            backoff_cap_s=self.backoff.cap_s,
            jitter=self.backoff.jitter,
            memory=MemoryModel(**self.memory.model_dump()),
        )

    def breaker_config(self) -> BreakerConfig:
        """The breaker thresholds as a plain value."""
        return BreakerConfig(**self.breaker.model_dump(exclude={"tick_s"}))

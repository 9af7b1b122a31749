"""decide() where a chain runs out: a prompt lost while only queued still gets a step."""

from __future__ import annotations

from contracts.policy import RecoveryPolicy
from contracts.taxonomy import FailureClass, Strategy
from services.recovery.tests.unit.test_decide_table import RUNNING, WAITING, again, first


def test_a_queued_loss_after_the_chain_is_used_up_takes_its_last_step_that_applies() -> None:
    """The job's own prompt was interrupted twice (RESUME's two uses are gone); then a
    crash takes it while it only waits in a queue: that loss is not the job's, so it is
    resumed again instead of aborting with "no recovery applies"."""
    policy = RecoveryPolicy(max_attempts=8)
    state, decision = first(FailureClass.INTERRUPTED, policy, evidence=RUNNING)
    state, decision = again(state, decision, FailureClass.INTERRUPTED, policy, evidence=RUNNING)
    _, used_up = again(state, decision, FailureClass.INTERRUPTED, policy, evidence=RUNNING)
    assert used_up.terminal, used_up.reason
    _, queued = again(state, decision, FailureClass.INTERRUPTED, policy, evidence=WAITING)
    assert not queued.terminal and queued.strategy is Strategy.RESUME, queued.reason

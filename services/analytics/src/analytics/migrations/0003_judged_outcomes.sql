-- Issue 11: recovery is judged on what the system did by itself, and a rejected attempt counts.
-- * attempts: an attempt refused at dispatch (job.failed, no job.dispatched) was attempt 1,
--   not 0 (median attempts of validation rejections read 0).
-- * judged: a job an abort (or a cancel) ended, completed later only through an operator's
--   manual retry, is judged by that first ending: not a successful recovery.
CREATE OR REPLACE VIEW job_outcomes AS
SELECT
    e.job_id AS job_id,
    minIfOrNull(e.occurred_at, e.type = 'job.submitted') AS submitted_at,
    minIfOrNull(e.occurred_at, e.type = 'job.failed') AS first_failure_at,
    countIf(e.type = 'job.failed') AS failures,
    maxIf(e.attempt, e.type IN ('job.dispatched', 'job.failed')) AS attempts,
    argMaxIf(multiIf(e.type = 'job.completed', 'completed', e.outcome = 'cancel', 'cancelled', 'aborted'),
             e.occurred_at,
             e.type = 'job.completed' OR (e.terminal AND e.outcome IN ('abort', 'cancel'))) AS last_end,
    maxIfOrNull(e.occurred_at,
                e.type = 'job.completed' OR (e.terminal AND e.outcome IN ('abort', 'cancel'))) AS ended_at,
    if(last_end = '', 'in_progress', last_end) AS outcome,
    countIf(e.terminal AND e.outcome = 'abort') AS aborts,
    countIf(e.terminal AND e.outcome = 'cancel') AS cancels,
    multiIf(outcome = 'completed' AND aborts > 0, 'aborted',
            outcome = 'completed' AND cancels > 0, 'cancelled',
            outcome) AS judged,
    failures > 0 AND judged = 'completed' AS recovered,
    if(recovered, dateDiff('millisecond', first_failure_at, ended_at) / 1000, NULL) AS time_to_recovery_s,
    groupUniqArrayArrayIf(e.strategies, e.type = 'recovery.decided') AS strategies,
    groupUniqArrayIf(e.failure_class, e.type = 'failure.classified') AS failure_classes,
    argMinIf(e.failure_class, e.occurred_at, e.type = 'failure.classified') AS first_failure_class,
    groupUniqArrayIf(e.backend_id, e.type = 'job.failed' AND e.backend_id != '') AS failed_backends,
    argMinIf(e.model, e.occurred_at, e.model != '') AS model
FROM events AS e FINAL
WHERE e.type IN ('job.submitted', 'job.dispatched', 'job.completed', 'job.failed',
                 'failure.classified', 'recovery.decided')
GROUP BY e.job_id;

-- As in 0002, with each job's judged outcome (the rates count recovered/failed by it).
CREATE OR REPLACE VIEW job_recovery_facts AS
SELECT
    job_id, first_failure_at, ended_at, judged AS outcome, attempts, time_to_recovery_s,
    dim.1 AS dimension, dim.2 AS value
FROM job_outcomes
ARRAY JOIN arrayConcat(
    [('all', 'all'), ('day', toString(toDate(first_failure_at))), ('model', if(model = '', '(none)', model))],
    arrayMap(x -> ('class', x), failure_classes),
    arrayMap(x -> ('strategy', x), arrayFilter(x -> x NOT IN ('ABORT', 'CANCEL'), strategies)),
    arrayMap(x -> ('backend', x), failed_backends)
) AS dim
WHERE failures > 0;

-- Views over the deduplicated log (every one reads `events FINAL`).
-- Attempt numbers: job.failed, failure.classified and recovery.decided carry the attempt
-- that failed; the next job.dispatched carries the next one.

-- Rows per event type and stream: equals the events in the streams.
CREATE VIEW IF NOT EXISTS event_counts AS
SELECT stream, type, count() AS events, max(occurred_at) AS last_at
FROM events FINAL
GROUP BY stream, type;

-- One row per attempt: where it ran, how it ended, what failed, what was decided next.
CREATE VIEW IF NOT EXISTS attempts AS
SELECT
    e.job_id AS job_id,
    e.attempt AS attempt,
    if(anyIf(e.backend_id, e.type = 'job.dispatched') != '',
       anyIf(e.backend_id, e.type = 'job.dispatched'),
       anyIf(e.backend_id, e.backend_id != '')) AS backend_id,
    anyIf(e.model, e.model != '') AS model,
    anyIf(e.failure_class, e.type = 'failure.classified') AS failure_class,
    anyIf(e.error_code, e.type = 'failure.classified') AS error_code,
    anyIf(e.strategy, e.type = 'recovery.decided') AS strategy,
    minIfOrNull(e.occurred_at, e.type = 'job.dispatched') AS started_at,
    coalesce(minIfOrNull(e.occurred_at, e.type = 'job.completed'),
             minIfOrNull(e.occurred_at, e.type = 'job.failed')) AS ended_at,
    multiIf(countIf(e.type = 'job.completed') > 0, 'completed',
            countIf(e.type = 'job.failed') > 0, 'failed', 'running') AS outcome,
    maxIf(e.duration_s, e.type = 'job.completed') AS reported_s,
    if(outcome = 'completed' AND reported_s > 0, reported_s,
       if(started_at IS NULL OR ended_at IS NULL, 0,
          greatest(dateDiff('millisecond', started_at, ended_at), 0) / 1000)) AS gpu_seconds
FROM events AS e FINAL
WHERE e.attempt > 0
  AND e.type IN ('job.dispatched', 'job.completed', 'job.failed', 'failure.classified', 'recovery.decided')
GROUP BY e.job_id, e.attempt;

-- One row per job: how it ended, whether it was recovered, how long that took, and how.
CREATE VIEW IF NOT EXISTS job_outcomes AS
SELECT
    e.job_id AS job_id,
    minIfOrNull(e.occurred_at, e.type = 'job.submitted') AS submitted_at,
    minIfOrNull(e.occurred_at, e.type = 'job.failed') AS first_failure_at,
    countIf(e.type = 'job.failed') AS failures,
    maxIf(e.attempt, e.type = 'job.dispatched') AS attempts,
    argMaxIf(multiIf(e.type = 'job.completed', 'completed', e.outcome = 'cancel', 'cancelled', 'aborted'),
             e.occurred_at,
             e.type = 'job.completed' OR (e.terminal AND e.outcome IN ('abort', 'cancel'))) AS last_end,
    maxIfOrNull(e.occurred_at,
                e.type = 'job.completed' OR (e.terminal AND e.outcome IN ('abort', 'cancel'))) AS ended_at,
    if(last_end = '', 'in_progress', last_end) AS outcome,
    failures > 0 AND outcome = 'completed' AS recovered,
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

-- Each job that met a failure, once per dimension it belongs to (a job that met two
-- classes counts for both). ABORT and CANCEL are endings, not recovery strategies.
CREATE VIEW IF NOT EXISTS job_recovery_facts AS
SELECT
    job_id, first_failure_at, ended_at, outcome, attempts, time_to_recovery_s,
    dim.1 AS dimension, dim.2 AS value
FROM job_outcomes
ARRAY JOIN arrayConcat(
    [('all', 'all'), ('day', toString(toDate(first_failure_at))), ('model', if(model = '', '(none)', model))],
    arrayMap(x -> ('class', x), failure_classes),
    arrayMap(x -> ('strategy', x), arrayFilter(x -> x NOT IN ('ABORT', 'CANCEL'), strategies)),
    arrayMap(x -> ('backend', x), failed_backends)
) AS dim
WHERE failures > 0;

-- Recovery rate = recovered / (recovered + aborted); cancelled and running jobs are
-- counted but not judged. MTTR = mean time from first failure to completion.
CREATE VIEW IF NOT EXISTS recovery_rates_since AS
SELECT
    dimension,
    value,
    count() AS jobs,
    countIf(outcome = 'completed') AS recovered,
    countIf(outcome = 'aborted') AS failed,
    countIf(outcome = 'cancelled') AS cancelled,
    countIf(outcome = 'in_progress') AS in_progress,
    if(recovered + failed = 0, NULL, recovered / (recovered + failed)) AS recovery_rate,
    medianIfOrNull(attempts, outcome IN ('completed', 'aborted')) AS median_attempts,
    avgIfOrNull(time_to_recovery_s, outcome = 'completed') AS mttr_s
FROM job_recovery_facts
WHERE first_failure_at >= {since:DateTime64(6, 'UTC')}
GROUP BY dimension, value;

CREATE VIEW IF NOT EXISTS recovery_rates AS
SELECT * FROM ${database}.recovery_rates_since(since = '1970-01-01 00:00:00');

CREATE VIEW IF NOT EXISTS recovery_rate_overall AS
SELECT * EXCEPT (dimension, value) FROM recovery_rates WHERE dimension = 'all';

CREATE VIEW IF NOT EXISTS recovery_rate_by_class AS
SELECT value AS failure_class, * EXCEPT (dimension, value) FROM recovery_rates WHERE dimension = 'class';

CREATE VIEW IF NOT EXISTS recovery_rate_by_strategy AS
SELECT value AS strategy, * EXCEPT (dimension, value) FROM recovery_rates WHERE dimension = 'strategy';

CREATE VIEW IF NOT EXISTS recovery_rate_by_backend AS
SELECT value AS backend_id, * EXCEPT (dimension, value) FROM recovery_rates WHERE dimension = 'backend';

CREATE VIEW IF NOT EXISTS recovery_rate_by_model AS
SELECT value AS model, * EXCEPT (dimension, value) FROM recovery_rates WHERE dimension = 'model';

CREATE VIEW IF NOT EXISTS recovery_rate_by_day AS
SELECT toDate(value) AS day, * EXCEPT (dimension, value) FROM recovery_rates WHERE dimension = 'day';

CREATE VIEW IF NOT EXISTS mean_time_to_recovery AS
SELECT
    count() AS recovered_jobs,
    avgOrNull(time_to_recovery_s) AS mttr_s,
    quantileOrNull(0.5)(time_to_recovery_s) AS p50_s,
    quantileOrNull(0.9)(time_to_recovery_s) AS p90_s
FROM job_outcomes
WHERE recovered;

-- GPU time (dispatch to end of attempt) burnt by attempts that failed.
CREATE VIEW IF NOT EXISTS failed_attempt_gpu_seconds AS
SELECT
    toDate(ended_at) AS day,
    backend_id,
    failure_class,
    count() AS failed_attempts,
    sum(gpu_seconds) AS gpu_seconds
FROM attempts
WHERE outcome = 'failed'
GROUP BY day, backend_id, failure_class;

-- One row per classified failure, with the raw message from its job.failed.
CREATE VIEW IF NOT EXISTS failures AS
SELECT
    c.event_id AS event_id,
    c.job_id AS job_id,
    c.attempt AS attempt,
    c.occurred_at AS occurred_at,
    c.failure_class AS failure_class,
    c.error_code AS error_code,
    c.retryable AS retryable,
    c.backend_id AS backend_id,
    c.model AS model,
    if(c.message != '', c.message, f.message) AS message
FROM (SELECT * FROM events FINAL WHERE type = 'failure.classified') AS c
LEFT JOIN (SELECT event_id, message FROM events FINAL WHERE type = 'job.failed') AS f
    ON f.event_id = c.ref_event_id;

CREATE VIEW IF NOT EXISTS classifier_unknown_rate AS
SELECT
    toDate(occurred_at) AS day,
    count() AS failures,
    countIf(failure_class = 'UNKNOWN') AS unknown,
    unknown / failures AS unknown_rate
FROM failures
GROUP BY day;

CREATE VIEW IF NOT EXISTS unknown_messages AS
SELECT
    substring(message, 1, 300) AS message,
    count() AS occurrences,
    uniqExact(job_id) AS jobs,
    max(occurred_at) AS last_seen
FROM failures
WHERE failure_class = 'UNKNOWN'
GROUP BY message
ORDER BY occurrences DESC, message;

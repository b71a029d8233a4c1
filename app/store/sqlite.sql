-- Named SQL blocks for the SQLite store; each block starts with "-- name: NAME".
-- Waiting tasks are stored as state 'queued' with their run_at: a delayed task becomes ready
-- without a write, and one partial index serves every claim in (run_at, seq) order.

-- name: schema
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('queues_version', 0);
-- Written only by the readiness probe: proof that a write commits.
CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY,
    probes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    interests TEXT,
    paused INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    name TEXT,
    queues TEXT NOT NULL,
    registered_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    owner TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS worker_queues (
    queue TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    PRIMARY KEY (queue, worker_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS worker_queues_by_worker ON worker_queues (worker_id);
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    queue TEXT NOT NULL,
    lane TEXT NOT NULL,
    publisher TEXT NOT NULL,
    data TEXT NOT NULL,
    run_at REAL NOT NULL,
    created_at REAL NOT NULL,
    scope TEXT NOT NULL,
    singularly_enqueue INTEGER NOT NULL,
    singularly_run INTEGER NOT NULL,
    identity TEXT,
    state TEXT NOT NULL,
    worker_id TEXT,
    attempts INTEGER NOT NULL,
    started_at REAL,
    finished_at REAL,
    lease_until REAL,
    fail_reason TEXT,
    failures TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL
);
-- Claims: the oldest ready task of a lane, whatever the lane's depth.
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks (lane, run_at, seq) WHERE state = 'queued';
-- singularlyEnqueue: at most one waiting task per lane and identity, enforced by the index.
CREATE UNIQUE INDEX IF NOT EXISTS tasks_unique_waiting ON tasks (lane, identity)
    WHERE state = 'queued' AND singularly_enqueue = 1;
-- singularlyRun: is a task with this identity already started in the lane?
CREATE INDEX IF NOT EXISTS tasks_running_identity ON tasks (lane, identity)
    WHERE state = 'started' AND singularly_run = 1;
CREATE INDEX IF NOT EXISTS tasks_by_queue ON tasks (queue, state, seq);
-- The Retries page: the waiting tasks that failed before, read without the others.
CREATE INDEX IF NOT EXISTS tasks_retrying ON tasks (seq) WHERE state = 'queued' AND attempts > 0;
CREATE INDEX IF NOT EXISTS tasks_by_holder ON tasks (worker_id) WHERE state = 'started';
CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (lease_until) WHERE state = 'started';
-- Retention: finished tasks by state and age.
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (state, finished_at)
    WHERE state IN ('completed', 'failed');
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats (
    minute REAL NOT NULL,
    queue TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    started INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0,
    lease_expired INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue)
) WITHOUT ROWID;

-- name: queues_version
SELECT value FROM meta WHERE key = 'queues_version';

-- name: bump_queues_version
UPDATE meta SET value = value + 1 WHERE key = 'queues_version';

-- name: list_queues
SELECT name, interests, paused, settings, created_at FROM queues ORDER BY name;

-- name: get_queue
SELECT name, interests, paused, settings, created_at FROM queues WHERE name = :name;

-- name: put_interests
INSERT INTO queues (name, interests, settings, created_at)
VALUES (:name, :interests, :settings, :now)
ON CONFLICT (name) DO UPDATE SET interests = excluded.interests;

-- name: clear_interests
UPDATE queues SET interests = NULL WHERE name = :name AND interests IS NOT NULL;

-- name: update_queue
UPDATE queues SET paused = coalesce(:paused, paused), settings = coalesce(:settings, settings)
WHERE name = :name;

-- name: delete_queue_record
DELETE FROM queues WHERE name = :name;

-- name: delete_queue_tasks
DELETE FROM tasks WHERE queue = :name AND state IN ('queued', 'failed');

-- name: add_worker
INSERT INTO workers (worker_id, name, queues, registered_at, last_seen, owner)
VALUES (:worker_id, :name, :queues, :registered_at, :last_seen, :owner);

-- name: add_worker_queue
INSERT OR IGNORE INTO worker_queues (queue, worker_id) VALUES (:queue, :worker_id);

-- name: get_worker
SELECT worker_id, name, queues, registered_at, last_seen, owner FROM workers WHERE worker_id = :worker_id;

-- name: list_workers
SELECT worker_id, name, queues, registered_at, last_seen, owner FROM workers
ORDER BY registered_at, worker_id;

-- name: list_workers_of_queue
SELECT w.worker_id, w.name, w.queues, w.registered_at, w.last_seen, w.owner
FROM worker_queues AS q JOIN workers AS w ON w.worker_id = q.worker_id
WHERE q.queue = :queue
ORDER BY w.registered_at, w.worker_id;

-- name: delete_worker
DELETE FROM workers WHERE worker_id = :worker_id;

-- name: delete_worker_queues
DELETE FROM worker_queues WHERE worker_id = :worker_id;

-- name: insert_task
INSERT INTO tasks (
    task_id, event_id, queue, lane, publisher, data, run_at, created_at, scope,
    singularly_enqueue, singularly_run, identity, state, worker_id, attempts,
    started_at, finished_at, lease_until, fail_reason, failures, result, progress,
    parent_task_id, follow_ups, version
) VALUES (
    :task_id, :event_id, :queue, :lane, :publisher, :data, :run_at, :created_at, :scope,
    :singularly_enqueue, :singularly_run, :identity, :state, :worker_id, :attempts,
    :started_at, :finished_at, :lease_until, :fail_reason, :failures, :result, :progress,
    :parent_task_id, :follow_ups, 1
)
ON CONFLICT DO NOTHING
RETURNING seq, version;

-- name: get_task
SELECT * FROM tasks WHERE task_id = :task_id;

-- name: next_in_lane
-- The task a claim on the lane takes; looked up apart from the UPDATE, which sets up a cursor
-- on every index of tasks even when it finds nothing (most claims of an idle worker).
SELECT t.seq FROM tasks AS t
WHERE t.lane = :lane AND t.state = 'queued' AND t.run_at <= :now
  AND t.queue NOT IN (SELECT value FROM json_each(:skip_queues))
  AND (t.singularly_run = 0 OR NOT EXISTS (
      SELECT 1 FROM tasks AS r
      WHERE r.lane = t.lane AND r.identity = t.identity
        AND r.state = 'started' AND r.singularly_run = 1))
ORDER BY t.run_at, t.seq
LIMIT 1;

-- name: claim_seq
UPDATE tasks
SET state = 'started', worker_id = :worker_id, started_at = :now, version = version + 1,
    lease_until = :now + coalesce(
        (SELECT value FROM json_each(:leases) WHERE key = tasks.queue), :default_lease)
WHERE seq = :seq AND state = 'queued'
RETURNING *;

-- name: replace_task
UPDATE tasks
SET state = :state, worker_id = :worker_id, run_at = :run_at, attempts = :attempts,
    started_at = :started_at, finished_at = :finished_at, lease_until = :lease_until,
    fail_reason = :fail_reason, failures = :failures, result = :result, progress = :progress,
    follow_ups = :follow_ups, version = version + 1
WHERE task_id = :task_id AND version = :expected_version
RETURNING version;

-- name: delete_task
DELETE FROM tasks WHERE task_id = :task_id;

-- name: get_tasks
SELECT * FROM tasks WHERE task_id IN (SELECT value FROM json_each(:task_ids));

-- name: started_ids_by_worker
SELECT task_id FROM tasks WHERE worker_id = :worker_id AND state = 'started';

-- name: started_by_worker
SELECT * FROM tasks WHERE worker_id = :worker_id AND state = 'started';

-- name: touch_worker
UPDATE workers SET last_seen = max(last_seen, :now) WHERE worker_id = :worker_id;

-- name: extend_leases
UPDATE tasks
SET version = version + 1,
    lease_until = :now + coalesce(
        (SELECT value FROM json_each(:leases) WHERE key = tasks.queue), :default_lease)
WHERE worker_id = :worker_id AND state = 'started'
  AND (:task_ids IS NULL OR task_id IN (SELECT value FROM json_each(:task_ids)));

-- name: expired_tasks
SELECT * FROM tasks WHERE state = 'started' AND lease_until <= :now
ORDER BY lease_until LIMIT :limit;

-- name: put_schedule
INSERT INTO schedules (name, body, version) VALUES (:name, :body, 1)
ON CONFLICT (name) DO UPDATE SET body = excluded.body, version = version + 1
RETURNING version;

-- name: list_schedules
SELECT name, body, version FROM schedules ORDER BY name;

-- name: replace_schedule
UPDATE schedules SET body = :body, version = version + 1
WHERE name = :name AND version = :expected_version
RETURNING version;

-- name: delete_schedule
DELETE FROM schedules WHERE name = :name;

-- name: add_stats
INSERT INTO stats (minute, queue, published, started, completed, failed, retried, lease_expired)
VALUES (:minute, :queue, :published, :started, :completed, :failed, :retried, :lease_expired)
ON CONFLICT (minute, queue) DO UPDATE SET
    published = published + excluded.published,
    started = started + excluded.started,
    completed = completed + excluded.completed,
    failed = failed + excluded.failed,
    retried = retried + excluded.retried,
    lease_expired = lease_expired + excluded.lease_expired;

-- name: list_stats
SELECT * FROM stats
WHERE minute >= :since AND minute < :until AND (:queue IS NULL OR queue = :queue)
ORDER BY minute, queue;

-- name: delete_stats_before
DELETE FROM stats WHERE minute < :minute;

-- name: earliest_run_at
SELECT min((
    SELECT run_at FROM tasks
    WHERE lane = lanes.value AND state = 'queued' ORDER BY run_at LIMIT 1
)) FROM json_each(:lanes) AS lanes;

-- name: health_probe
INSERT INTO health (id, probes) VALUES (1, 1)
ON CONFLICT (id) DO UPDATE SET probes = probes + 1;

-- Results, progress and follow-ups (issue 16): columns added to a file made before them (same
-- schema version: older code ignores them), each once (sqlite_migrate.py).

-- name: add_column_result
ALTER TABLE tasks ADD COLUMN result TEXT;

-- name: add_column_progress
ALTER TABLE tasks ADD COLUMN progress TEXT;

-- name: add_column_parent_task_id
ALTER TABLE tasks ADD COLUMN parent_task_id TEXT;

-- name: add_column_follow_ups
ALTER TABLE tasks ADD COLUMN follow_ups TEXT;

-- name: tokens_schema
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL
) WITHOUT ROWID;

-- name: add_token
INSERT OR IGNORE INTO tokens (name, secret_hash, roles, created_at, last_used_at)
VALUES (:name, :secret_hash, :roles, :created_at, :last_used_at);

-- name: list_tokens
SELECT name, secret_hash, roles, created_at, last_used_at FROM tokens ORDER BY name;

-- name: delete_token
DELETE FROM tokens WHERE name = :name;

-- name: token_used
UPDATE tokens SET last_used_at = :at
WHERE name = :name AND (last_used_at IS NULL OR last_used_at < :at);

-- Per-(queue, lane, state) task counts, kept by triggers in the transaction of every change
-- to tasks, whoever makes it (any statement, any process, any server version): status reads
-- them instead of counting a queue. A row at zero is removed, so worker lanes leave none
-- behind. 'queued' includes scheduled tasks (QUEUED with a future run_at), which become ready
-- with the clock, without a write: task_due counts the queued tasks that were delayed (run_at
-- after their creation: the only ones whose run_at can be in the future) by minute of run_at,
-- so "scheduled at now" is the sum of the minutes after now's plus, within now's minute, a
-- tasks_ready range of at most a minute. A task published ready touches no task_due row.

-- name: counts_table
CREATE TABLE IF NOT EXISTS task_counts (
    queue TEXT NOT NULL,
    lane TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue, lane, state)
) WITHOUT ROWID;

-- name: counts_on_insert
CREATE TRIGGER IF NOT EXISTS task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (queue, lane, state, n) VALUES (new.queue, new.lane, new.state, 1)
    ON CONFLICT (queue, lane, state) DO UPDATE SET n = n + 1;
END;

-- name: counts_on_delete
CREATE TRIGGER IF NOT EXISTS task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1
    WHERE queue = old.queue AND lane = old.lane AND state = old.state;
    DELETE FROM task_counts
    WHERE queue = old.queue AND lane = old.lane AND state = old.state AND n <= 0;
END;

-- name: counts_on_update
CREATE TRIGGER IF NOT EXISTS task_counts_update AFTER UPDATE OF queue, lane, state ON tasks
WHEN old.queue IS NOT new.queue OR old.lane IS NOT new.lane OR old.state IS NOT new.state
BEGIN
    UPDATE task_counts SET n = n - 1
    WHERE queue = old.queue AND lane = old.lane AND state = old.state;
    DELETE FROM task_counts
    WHERE queue = old.queue AND lane = old.lane AND state = old.state AND n <= 0;
    INSERT INTO task_counts (queue, lane, state, n) VALUES (new.queue, new.lane, new.state, 1)
    ON CONFLICT (queue, lane, state) DO UPDATE SET n = n + 1;
END;

-- name: due_table
CREATE TABLE IF NOT EXISTS task_due (
    queue TEXT NOT NULL,
    lane TEXT NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue, lane, minute)
) WITHOUT ROWID;

-- name: due_on_insert
CREATE TRIGGER IF NOT EXISTS task_due_insert AFTER INSERT ON tasks
WHEN new.state = 'queued' AND new.run_at > new.created_at BEGIN
    INSERT INTO task_due (queue, lane, minute, n)
    VALUES (new.queue, new.lane, CAST(new.run_at / 60 AS INTEGER), 1)
    ON CONFLICT (queue, lane, minute) DO UPDATE SET n = n + 1;
END;

-- name: due_on_delete
CREATE TRIGGER IF NOT EXISTS task_due_delete AFTER DELETE ON tasks
WHEN old.state = 'queued' AND old.run_at > old.created_at BEGIN
    UPDATE task_due SET n = n - 1
    WHERE queue = old.queue AND lane = old.lane AND minute = CAST(old.run_at / 60 AS INTEGER);
    DELETE FROM task_due
    WHERE queue = old.queue AND lane = old.lane AND minute = CAST(old.run_at / 60 AS INTEGER)
      AND n <= 0;
END;

-- name: due_on_update
CREATE TRIGGER IF NOT EXISTS task_due_update
AFTER UPDATE OF queue, lane, state, run_at, created_at ON tasks
WHEN (old.state = 'queued' AND old.run_at > old.created_at)
  OR (new.state = 'queued' AND new.run_at > new.created_at)
BEGIN
    UPDATE task_due SET n = n - 1
    WHERE old.state = 'queued' AND old.run_at > old.created_at
      AND queue = old.queue AND lane = old.lane AND minute = CAST(old.run_at / 60 AS INTEGER);
    DELETE FROM task_due
    WHERE old.state = 'queued' AND old.run_at > old.created_at
      AND queue = old.queue AND lane = old.lane AND minute = CAST(old.run_at / 60 AS INTEGER)
      AND n <= 0;
    INSERT INTO task_due (queue, lane, minute, n)
    SELECT new.queue, new.lane, CAST(new.run_at / 60 AS INTEGER), 1
    WHERE new.state = 'queued' AND new.run_at > new.created_at
    ON CONFLICT (queue, lane, minute) DO UPDATE SET n = n + 1;
END;

-- name: counts_objects
SELECT name FROM sqlite_master
WHERE (type = 'table' AND name IN ('task_counts', 'task_due'))
   OR (type = 'trigger' AND name IN ('task_counts_insert', 'task_counts_delete',
                                     'task_counts_update', 'task_due_insert',
                                     'task_due_delete', 'task_due_update'));

-- name: counts_stored
SELECT queue, lane, state, n FROM task_counts;

-- name: counts_true
SELECT queue, lane, state, count(*) AS n FROM tasks GROUP BY queue, lane, state;

-- name: counts_clear
DELETE FROM task_counts;

-- name: due_stored
SELECT queue, lane, minute, n FROM task_due;

-- name: due_true
SELECT queue, lane, CAST(run_at / 60 AS INTEGER) AS minute, count(*) AS n FROM tasks
WHERE state = 'queued' AND run_at > created_at
GROUP BY 1, 2, 3;

-- name: due_clear
DELETE FROM task_due;

-- name: due_put
INSERT INTO task_due (queue, lane, minute, n) VALUES (:queue, :lane, :minute, :n);

-- name: counts_put
INSERT INTO task_counts (queue, lane, state, n) VALUES (:queue, :lane, :state, :n);

-- name: counts_of_queue
SELECT queue, lane, state, n FROM task_counts WHERE queue = :queue;

-- name: counts_all
SELECT queue, lane, state, n FROM task_counts;

-- name: due_later
-- Delayed tasks of the minutes after now's, per (queue, lane).
SELECT queue, lane, sum(n) FROM task_due
WHERE minute > CAST(:now / 60 AS INTEGER)
GROUP BY queue, lane;

-- name: due_later_of_queue
SELECT queue, lane, sum(n) FROM task_due
WHERE queue = :queue AND minute > CAST(:now / 60 AS INTEGER)
GROUP BY queue, lane;

-- name: scheduled_in_lane
-- Those of now's minute still to come: a tasks_ready range of at most a minute, index-only.
SELECT count(*) FROM tasks
WHERE lane = :lane AND state = 'queued' AND run_at > :now AND run_at < :now + 61
  AND CAST(run_at / 60 AS INTEGER) = CAST(:now / 60 AS INTEGER);

-- name: scheduled_in_lane_of_queue
-- A worker's own lane holds copies of several queues: the range's rows tell their queue.
SELECT count(*) FROM tasks
WHERE lane = :lane AND state = 'queued' AND run_at > :now AND run_at < :now + 61
  AND CAST(run_at / 60 AS INTEGER) = CAST(:now / 60 AS INTEGER) AND queue = :queue;

-- Per-lane change stamps (change_stamps): a lane's stamp grows, in the transaction of the
-- change, whenever one of its tasks may have become claimable: a task inserted or put back
-- queued (or moved to the lane, or its run_at changed while queued), and a singularlyRun task
-- leaving 'started' (its waiting twin may run now). Claims, reports and worker touches leave
-- it alone, so they wake nobody. A worker's lane loses its row with the worker: worker ids are
-- never reused, so a stamp never goes back to a value a watcher saw for the same lane.

-- name: stamps_table
CREATE TABLE IF NOT EXISTS lane_stamps (
    lane TEXT PRIMARY KEY,
    stamp INTEGER NOT NULL
) WITHOUT ROWID;

-- name: stamps_by_stamp
CREATE INDEX IF NOT EXISTS lane_stamps_by_stamp ON lane_stamps (stamp);

-- name: stamps_clock_table
-- changes: the last stamp given (stamps are drawn from it, so they are ordered by change);
-- deletes: how many times rows were removed (a reader then reads every row again).
CREATE TABLE IF NOT EXISTS lane_stamps_clock (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    changes INTEGER NOT NULL,
    deletes INTEGER NOT NULL
);

-- name: stamps_clock_row
INSERT OR IGNORE INTO lane_stamps_clock (id, changes, deletes)
SELECT 0, coalesce(max(stamp), 0), 0 FROM lane_stamps;

-- name: stamps_drop_insert
DROP TRIGGER IF EXISTS lane_stamps_insert;

-- name: stamps_drop_update
DROP TRIGGER IF EXISTS lane_stamps_update;

-- name: stamps_drop_worker_delete
DROP TRIGGER IF EXISTS lane_stamps_worker_delete;

-- name: stamps_on_insert
CREATE TRIGGER lane_stamps_insert AFTER INSERT ON tasks
WHEN new.state = 'queued' BEGIN
    UPDATE lane_stamps_clock SET changes = changes + 1 WHERE id = 0;
    INSERT INTO lane_stamps (lane, stamp)
    VALUES (new.lane, (SELECT changes FROM lane_stamps_clock WHERE id = 0))
    ON CONFLICT (lane) DO UPDATE SET stamp = excluded.stamp;
END;

-- name: stamps_on_update
CREATE TRIGGER lane_stamps_update AFTER UPDATE OF state, lane, run_at ON tasks
WHEN (new.state = 'queued'
      AND (old.state IS NOT 'queued' OR old.lane IS NOT new.lane OR old.run_at IS NOT new.run_at))
  OR (old.state = 'started' AND old.singularly_run AND new.state IS NOT 'started')
BEGIN
    UPDATE lane_stamps_clock SET changes = changes + 1 WHERE id = 0;
    INSERT INTO lane_stamps (lane, stamp)
    VALUES (new.lane, (SELECT changes FROM lane_stamps_clock WHERE id = 0))
    ON CONFLICT (lane) DO UPDATE SET stamp = excluded.stamp;
END;

-- name: stamps_on_worker_delete
CREATE TRIGGER lane_stamps_worker_delete AFTER DELETE ON workers BEGIN
    DELETE FROM lane_stamps WHERE lane = '@' || old.worker_id;
    UPDATE lane_stamps_clock SET deletes = deletes + 1 WHERE id = 0;
END;

-- name: stamps_clock
SELECT changes, deletes FROM lane_stamps_clock WHERE id = 0;

-- name: stamps_all
SELECT lane, stamp FROM lane_stamps;

-- name: stamps_since
SELECT lane, stamp FROM lane_stamps WHERE stamp > :since;

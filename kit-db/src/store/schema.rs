//! The schema, as migrations on `PRAGMA user_version`. The schema is a public
//! interface (people query it with sqlite3; docs/schema.md describes it), so
//! migrations only ever add: never rename or drop a column people may use.

/// Migration N (1-based) brings user_version from N-1 to N.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
CREATE TABLE supervisor_tasks (
    name            TEXT PRIMARY KEY,
    schedule        TEXT NOT NULL,
    command         TEXT NOT NULL,            -- JSON: "shell string" or ["argv", ...]
    enabled         INTEGER NOT NULL DEFAULT 1,
    timezone        TEXT,                     -- as declared; NULL = settings default
    spec            TEXT NOT NULL,            -- the full definition as JSON
    next_due        TEXT,                     -- next slot kit-tick will claim (UTC); NULL = not computed yet
    disabled_reason TEXT,                     -- why enabled = 0 when kit disabled it (escalation)
    revision        INTEGER NOT NULL DEFAULT 1, -- bumped on every change (kit-keep reloads on it)
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX supervisor_tasks_due ON supervisor_tasks(next_due) WHERE enabled = 1;

CREATE TABLE supervisor_executions (
    id              INTEGER PRIMARY KEY,
    task            TEXT NOT NULL,            -- the task's name; kept when the task is deleted
    trigger         TEXT NOT NULL CHECK (trigger IN
                      ('schedule','catch_up','manual','retry','daemon','recovery','api','adhoc','reboot')),
    attempt         INTEGER NOT NULL DEFAULT 1,
    scheduled_for   TEXT,                     -- the slot (UTC) for scheduled rows
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    status          TEXT NOT NULL CHECK (status IN
                      ('queued','running','success','failed','timeout','killed','skipped','missed','lost','error')),
    exit_code       INTEGER,                  -- the shell-convention code: exit status, 128+N for signal N
    signal          INTEGER,                  -- the signal that ended the process, if any
    duration_ms     INTEGER,
    reason          TEXT,                     -- why: error message, why skipped/missed/lost/killed
    pid             INTEGER,                  -- the recording process (kit-run, or kit-keep for daemons)
    pid_start       INTEGER,                  -- its start time, so a reused pid is never mistaken
    child_pid       INTEGER,                  -- the task's process (leader of its own process group)
    child_start     INTEGER,
    boot_id         TEXT,
    output          BLOB,                     -- stdout+stderr interleaved, head and tail past the cap
    output_bytes    INTEGER,                  -- bytes the command wrote in all
    output_dropped  INTEGER NOT NULL DEFAULT 0, -- bytes dropped between head and tail
    retry_of        INTEGER REFERENCES supervisor_executions(id) ON DELETE SET NULL
);
-- Exactly-once: one row per (task, slot, attempt). kit-tick's claim is an INSERT against this.
CREATE UNIQUE INDEX supervisor_executions_slot
    ON supervisor_executions(task, scheduled_for, attempt) WHERE scheduled_for IS NOT NULL;
CREATE INDEX supervisor_executions_task ON supervisor_executions(task, id);
CREATE INDEX supervisor_executions_created ON supervisor_executions(created_at);
CREATE INDEX supervisor_executions_open
    ON supervisor_executions(status, task) WHERE status IN ('queued','running');
CREATE INDEX supervisor_executions_task_status ON supervisor_executions(task, status, id);

CREATE TABLE supervisor_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                       -- JSON
) WITHOUT ROWID;

CREATE TABLE supervisor_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE supervisor_heartbeats (
    tool       TEXT PRIMARY KEY,              -- kit-tick, kit-keep, kit-heal, kit-ctl-serve
    pid        INTEGER NOT NULL,
    pid_start  INTEGER,
    boot_id    TEXT,
    started_at TEXT NOT NULL,
    beat_at    TEXT NOT NULL,
    info       TEXT                           -- JSON
) WITHOUT ROWID;

CREATE TABLE supervisor_events (
    id              INTEGER PRIMARY KEY,
    created_at      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN
                      ('failing','recovering','recovered','escalated','crashloop','missed','stalled','stuck','action','info')),
    severity        TEXT NOT NULL CHECK (severity IN ('info','warning','critical')),
    task            TEXT,
    message         TEXT NOT NULL,
    detail          TEXT,                     -- JSON
    dedupe_key      TEXT UNIQUE,              -- one event per occurrence, however many tools notice it
    notify          INTEGER NOT NULL DEFAULT 1,
    delivery        TEXT NOT NULL DEFAULT 'pending' CHECK (delivery IN ('pending','delivered','failed','none')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until     TEXT,
    delivered_at    TEXT,
    last_error      TEXT
);
CREATE INDEX supervisor_events_pending ON supervisor_events(next_attempt_at) WHERE delivery = 'pending';
CREATE INDEX supervisor_events_task ON supervisor_events(task, id);

CREATE TABLE supervisor_recovery (
    task               TEXT PRIMARY KEY,
    state              TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok','failing','recovering','escalated')),
    streak             INTEGER NOT NULL DEFAULT 0,  -- consecutive failed/timeout/lost executions
    last_execution_id  INTEGER,                     -- last execution counted
    episode_started_at TEXT,
    rounds             INTEGER NOT NULL DEFAULT 0,  -- recovery rounds in this episode
    last_round_at      TEXT,
    escalated_at       TEXT,
    updated_at         TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE supervisor_daemons (
    task               TEXT PRIMARY KEY,
    wanted             TEXT NOT NULL DEFAULT 'up' CHECK (wanted IN ('up','down')),
    state              TEXT NOT NULL DEFAULT 'stopped'
                         CHECK (state IN ('starting','running','backoff','quarantined','stopped','error')),
    pid                INTEGER,
    pid_start          INTEGER,
    execution_id       INTEGER,
    started_at         TEXT,
    restarts           INTEGER NOT NULL DEFAULT 0,
    recent_failures    TEXT NOT NULL DEFAULT '[]',  -- JSON list of failure instants (crash-loop window)
    backoff_until      TEXT,
    quarantined_until  TEXT,
    last_exit          TEXT,
    updated_at         TEXT NOT NULL
) WITHOUT ROWID;

-- Requests from kit-ctl / the API / kit-heal to kit-keep (restart, stop, start).
CREATE TABLE supervisor_requests (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    task         TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('restart','stop','start')),
    requested_by TEXT,
    done_at      TEXT,
    result       TEXT
);
CREATE INDEX supervisor_requests_open ON supervisor_requests(id) WHERE done_at IS NULL;

-- One-line answers to common questions.
CREATE VIEW today AS
    SELECT * FROM supervisor_executions
    WHERE created_at >= strftime('%Y-%m-%dT00:00:00.000Z', 'now');

CREATE VIEW last_runs AS
    SELECT e.* FROM supervisor_executions e
    JOIN (SELECT task, max(id) AS id FROM supervisor_executions
          WHERE status NOT IN ('queued','skipped','missed') GROUP BY task) last
      ON e.id = last.id;

CREATE VIEW failing_tasks AS
    SELECT r.task, r.state, r.streak, r.rounds, r.episode_started_at, r.escalated_at,
           t.enabled, t.disabled_reason
    FROM supervisor_recovery r LEFT JOIN supervisor_tasks t ON t.name = r.task
    WHERE r.state <> 'ok' OR r.streak > 0;
"#;

/// Each heartbeat records the time the machine had slept since boot, so a
/// gap between beats can be told apart: sleep, or the tool not running
/// (kit_db::gap).
const V2: &str = r#"
ALTER TABLE supervisor_heartbeats ADD COLUMN slept_ms INTEGER; -- slept since boot at beat_at (NULL = unknown)
"#;

/// The event kind `skipped`: a streak of overlap skips, notified at once
/// (`notify_at_once`). SQLite cannot change a CHECK, so the
/// table is rebuilt with the same columns, rows, ids and indexes (inside
/// the migration's transaction: all or nothing).
const V3: &str = r#"
CREATE TABLE supervisor_events_v3 (
    id              INTEGER PRIMARY KEY,
    created_at      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN
                      ('failing','recovering','recovered','escalated','crashloop','missed','stalled','stuck',
                       'skipped','action','info')),
    severity        TEXT NOT NULL CHECK (severity IN ('info','warning','critical')),
    task            TEXT,
    message         TEXT NOT NULL,
    detail          TEXT,                     -- JSON
    dedupe_key      TEXT UNIQUE,              -- one event per occurrence, however many tools notice it
    notify          INTEGER NOT NULL DEFAULT 1,
    delivery        TEXT NOT NULL DEFAULT 'pending' CHECK (delivery IN ('pending','delivered','failed','none')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until     TEXT,
    delivered_at    TEXT,
    last_error      TEXT
);
INSERT INTO supervisor_events_v3 SELECT * FROM supervisor_events;
DROP TABLE supervisor_events;
ALTER TABLE supervisor_events_v3 RENAME TO supervisor_events;
CREATE INDEX supervisor_events_pending ON supervisor_events(next_attempt_at) WHERE delivery = 'pending';
CREATE INDEX supervisor_events_task ON supervisor_events(task, id);
"#;

/// New `trigger` values (event-driven tasks: `event`, `chain`, `condition`,
/// `watch`; a one-shot run: `at`) and new event kinds (`clock_jump`,
/// `schedule_changed`, `override`, `probe_failed`, `rate_limited`).
///
/// Both CHECKs need their tables rebuilt. The executions table is renamed
/// out of the way first, because its `retry_of` references itself: with
/// foreign keys on, dropping a parent table deletes its rows first, and a
/// copy whose REFERENCES named the old table would have every `retry_of`
/// nulled by that delete. After the rename the old table's references point
/// at itself, so the copy keeps its links. The views that read the table are
/// dropped and made again around it (a rename rewrites a view's text).
const V4: &str = r#"
DROP VIEW today;
DROP VIEW last_runs;
ALTER TABLE supervisor_executions RENAME TO supervisor_executions_v3;
CREATE TABLE supervisor_executions (
    id              INTEGER PRIMARY KEY,
    task            TEXT NOT NULL,            -- the task's name; kept when the task is deleted
    trigger         TEXT NOT NULL CHECK (trigger IN
                      ('schedule','catch_up','manual','retry','daemon','recovery','api','adhoc','reboot',
                       'event','chain','condition','watch','at')),
    attempt         INTEGER NOT NULL DEFAULT 1,
    scheduled_for   TEXT,                     -- the slot (UTC) for scheduled rows
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    status          TEXT NOT NULL CHECK (status IN
                      ('queued','running','success','failed','timeout','killed','skipped','missed','lost','error')),
    exit_code       INTEGER,                  -- the shell-convention code: exit status, 128+N for signal N
    signal          INTEGER,                  -- the signal that ended the process, if any
    duration_ms     INTEGER,
    reason          TEXT,                     -- why: error message, why skipped/missed/lost/killed
    pid             INTEGER,                  -- the recording process (kit-run, or kit-keep for daemons)
    pid_start       INTEGER,                  -- its start time, so a reused pid is never mistaken
    child_pid       INTEGER,                  -- the task's process (leader of its own process group)
    child_start     INTEGER,
    boot_id         TEXT,
    output          BLOB,                     -- stdout+stderr interleaved, head and tail past the cap
    output_bytes    INTEGER,                  -- bytes the command wrote in all
    output_dropped  INTEGER NOT NULL DEFAULT 0, -- bytes dropped between head and tail
    retry_of        INTEGER REFERENCES supervisor_executions(id) ON DELETE SET NULL
);
INSERT INTO supervisor_executions SELECT * FROM supervisor_executions_v3;
DROP TABLE supervisor_executions_v3;
CREATE UNIQUE INDEX supervisor_executions_slot
    ON supervisor_executions(task, scheduled_for, attempt) WHERE scheduled_for IS NOT NULL;
CREATE INDEX supervisor_executions_task ON supervisor_executions(task, id);
CREATE INDEX supervisor_executions_created ON supervisor_executions(created_at);
CREATE INDEX supervisor_executions_open
    ON supervisor_executions(status, task) WHERE status IN ('queued','running');
CREATE INDEX supervisor_executions_task_status ON supervisor_executions(task, status, id);
CREATE VIEW today AS
    SELECT * FROM supervisor_executions
    WHERE created_at >= strftime('%Y-%m-%dT00:00:00.000Z', 'now');
CREATE VIEW last_runs AS
    SELECT e.* FROM supervisor_executions e
    JOIN (SELECT task, max(id) AS id FROM supervisor_executions
          WHERE status NOT IN ('queued','skipped','missed') GROUP BY task) last
      ON e.id = last.id;

CREATE TABLE supervisor_events_v4 (
    id              INTEGER PRIMARY KEY,
    created_at      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN
                      ('failing','recovering','recovered','escalated','crashloop','missed','stalled','stuck',
                       'skipped','action','info',
                       'clock_jump','schedule_changed','override','probe_failed','rate_limited')),
    severity        TEXT NOT NULL CHECK (severity IN ('info','warning','critical')),
    task            TEXT,
    message         TEXT NOT NULL,
    detail          TEXT,                     -- JSON
    dedupe_key      TEXT UNIQUE,              -- one event per occurrence, however many tools notice it
    notify          INTEGER NOT NULL DEFAULT 1,
    delivery        TEXT NOT NULL DEFAULT 'pending' CHECK (delivery IN ('pending','delivered','failed','none')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    lease_until     TEXT,
    delivered_at    TEXT,
    last_error      TEXT
);
INSERT INTO supervisor_events_v4 SELECT * FROM supervisor_events;
DROP TABLE supervisor_events;
ALTER TABLE supervisor_events_v4 RENAME TO supervisor_events;
CREATE INDEX supervisor_events_pending ON supervisor_events(next_attempt_at) WHERE delivery = 'pending';
CREATE INDEX supervisor_events_task ON supervisor_events(task, id);
"#;

/// Triggers (event-driven tasks): one row per trigger received, whatever
/// became of it. A row's `execution_id` is the run that consumed it (or, for
/// a duplicate key, the run its first copy started); `outcome` and `reason`
/// say why a trigger started nothing new. Keys are unique per task within
/// the key window: the writer checks inside its write transaction (SQLite
/// has one writer at a time), so the index only has to make it fast.
const V5: &str = r#"
CREATE TABLE supervisor_triggers (
    id           INTEGER PRIMARY KEY,
    task         TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('event','chain','condition','watch')),
    key          TEXT,                      -- idempotency key (events); NULL otherwise
    data         BLOB,                      -- the payload (compact JSON) the command sees
    data_bytes   INTEGER NOT NULL DEFAULT 0,
    received_at  TEXT NOT NULL,
    execution_id INTEGER,                   -- the run that consumed it (duplicate: the first copy's run)
    outcome      TEXT NOT NULL CHECK (outcome IN
                   ('queued','coalesced','duplicate','refused','rate_limited')),
    reason       TEXT,                      -- why it started no run of its own
    detail       TEXT                       -- JSON facts for `why` (upstream, probe exit, paths)
);
CREATE INDEX supervisor_triggers_task ON supervisor_triggers(task, id);
CREATE INDEX supervisor_triggers_key ON supervisor_triggers(task, key) WHERE key IS NOT NULL;
CREATE INDEX supervisor_triggers_execution ON supervisor_triggers(execution_id);
CREATE INDEX supervisor_triggers_received ON supervisor_triggers(received_at);

-- Chains, derived from each task's `after` (rewritten whenever the task is):
-- when `upstream` ends as `on_status` says, `task` is triggered.
CREATE TABLE supervisor_chains (
    upstream  TEXT NOT NULL,
    task      TEXT NOT NULL,
    on_status TEXT NOT NULL CHECK (on_status IN ('success','failure','finish')),
    PRIMARY KEY (upstream, task, on_status)
) WITHOUT ROWID;
CREATE INDEX supervisor_chains_task ON supervisor_chains(task);
"#;

/// Conditions and file watches (issue 17, items 5 and 6). Probe state and
/// results live in tables of their own, out of `supervisor_executions`, so
/// a probe every minute never buries the real runs in `history`.
const V6: &str = r#"
CREATE TABLE supervisor_probes (
    task              TEXT PRIMARY KEY,
    spec              TEXT NOT NULL,            -- the task's `when` as JSON (a change re-probes at the next tick)
    every_ms          INTEGER NOT NULL,
    next_due          TEXT,                     -- when kit-tick next claims a probe (UTC)
    claimed_at        TEXT,                     -- when the probe in flight was claimed; NULL once it answered
    last_at           TEXT,                     -- when the last probe finished
    last_result       TEXT CHECK (last_result IN ('true','false','failed')),
    last_answer       TEXT CHECK (last_answer IN ('true','false')), -- the last true/false (failures skipped): the edge is measured against it
    last_exit         INTEGER,                  -- shell-convention code; NULL when it could not start or timed out
    last_error        TEXT,                     -- why the last probe failed
    last_output       TEXT,                     -- the tail of what it printed
    streak            INTEGER NOT NULL DEFAULT 0, -- consecutive probes with last_result
    failing_since     TEXT,                     -- first failure of the current failure streak (NULL: answering)
    last_fired_at     TEXT,                     -- when the condition last fired the task
    last_execution_id INTEGER,                  -- the execution that firing queued
    fired             INTEGER NOT NULL DEFAULT 0, -- times it fired
    updated_at        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX supervisor_probes_due ON supervisor_probes(next_due);
-- The recent probes of each task (the newest 50 are kept).
CREATE TABLE supervisor_probe_results (
    id           INTEGER PRIMARY KEY,
    task         TEXT NOT NULL,
    at           TEXT NOT NULL,                 -- when it finished
    result       TEXT NOT NULL CHECK (result IN ('true','false','failed')),
    exit_code    INTEGER,
    duration_ms  INTEGER,
    error        TEXT,
    output       TEXT,
    decision     TEXT NOT NULL,                 -- fired | not_true | no_edge | min_interval | disabled | failed
    execution_id INTEGER                        -- the run it fired
);
CREATE INDEX supervisor_probe_results_task ON supervisor_probe_results(task, id);
CREATE TABLE supervisor_watches (
    task              TEXT PRIMARY KEY,
    paths             TEXT NOT NULL,            -- JSON list, as declared (~/ unexpanded)
    debounce_ms       INTEGER NOT NULL,
    watching_since    TEXT,                     -- when kit-keep began watching them (NULL: not yet)
    scan              TEXT,                     -- fingerprint of the paths at the last scan (changes made while kit-keep was down)
    scanned_at        TEXT,
    last_change_at    TEXT,                     -- the last change kit-keep saw
    last_paths        TEXT,                     -- JSON list of the paths that changed then
    last_fired_at     TEXT,
    last_execution_id INTEGER,
    fired             INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,                     -- why a path cannot be watched
    updated_at        TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Adaptive schedules (issue 18): runtime changes to when a task runs, each a row that
/// survives restarts and ends on its own. `kind`: `schedule` (an override's
/// pace), `pause` (slots recorded skipped), `adapt` (a `[[task.adapt]]`
/// rule in force, extended by each match) and `at` (a one-shot run). The
/// executions index makes a rate limit's count a range search.
const V7: &str = r#"
CREATE TABLE supervisor_overrides (
    id                   INTEGER PRIMARY KEY,
    task                 TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('schedule','pause','adapt','at')),
    schedule             TEXT,                -- the pace in force (schedule, adapt)
    starts_at            TEXT NOT NULL,       -- in force from (at: when to run)
    ends_at              TEXT NOT NULL,       -- in force until, exclusive (at: = starts_at)
    set_by               TEXT NOT NULL,       -- cli, api, task:<execution id>, adapt:<rule index>
    reason               TEXT,
    rule                 TEXT,                -- adapt: the rule's `when`
    matched_execution_id INTEGER,             -- adapt: the latest run that matched
    matches              INTEGER NOT NULL DEFAULT 0, -- adapt: runs that matched in this period
    data                 TEXT,                -- at: the --data handed to the run
    execution_id         INTEGER,             -- at: the execution it was claimed as
    cleared_at           TEXT,                -- ended early (--clear, resume, replaced)
    cleared_by           TEXT,
    reverted_at          TEXT,                -- when its end was noticed and announced
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX supervisor_overrides_task ON supervisor_overrides(task, ends_at);
CREATE INDEX supervisor_overrides_ends ON supervisor_overrides(ends_at);
CREATE INDEX supervisor_overrides_live ON supervisor_overrides(ends_at)
    WHERE cleared_at IS NULL AND reverted_at IS NULL;
CREATE INDEX supervisor_overrides_at_due ON supervisor_overrides(starts_at)
    WHERE kind = 'at' AND execution_id IS NULL AND cleared_at IS NULL;
CREATE INDEX supervisor_executions_task_created ON supervisor_executions(task, created_at);
"#;

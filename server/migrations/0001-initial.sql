-- The first schema. Portable SQL: it runs unchanged on SQLite and PostgreSQL
-- (TEXT ids made by the application, BIGINT milliseconds since the epoch,
-- JSON kept as TEXT, no autoincrement, no engine-specific types).

CREATE TABLE tokens (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  scopes      TEXT NOT NULL,
  hash        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT,
  revoked_at  BIGINT,
  last_used_at BIGINT
);

CREATE TABLE repos (
  name        TEXT PRIMARY KEY,
  settings    TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);

CREATE TABLE artifacts (
  sha256      TEXT PRIMARY KEY,
  size        BIGINT NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE builds (
  id          TEXT PRIMARY KEY,
  repo        TEXT NOT NULL REFERENCES repos(name),
  line        TEXT NOT NULL,
  version     TEXT NOT NULL,
  flavour     TEXT NOT NULL,
  arch        TEXT NOT NULL,
  channel     TEXT NOT NULL CHECK (channel IN ('testing', 'stable')),
  job_id      TEXT,
  created_at  BIGINT NOT NULL,
  promoted_at BIGINT
);
CREATE INDEX builds_repo ON builds (repo, created_at);

CREATE TABLE packages (
  id          TEXT PRIMARY KEY,
  repo        TEXT NOT NULL REFERENCES repos(name),
  kind        TEXT NOT NULL CHECK (kind IN ('deb', 'rpm', 'tarball')),
  name        TEXT NOT NULL,
  version     TEXT NOT NULL,
  arch        TEXT NOT NULL,
  line        TEXT NOT NULL,
  filename    TEXT NOT NULL,
  sha256      TEXT NOT NULL REFERENCES artifacts(sha256),
  size        BIGINT NOT NULL,
  build_id    TEXT REFERENCES builds(id),
  channel     TEXT NOT NULL CHECK (channel IN ('testing', 'stable')),
  meta        TEXT NOT NULL,
  uploaded_by TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  UNIQUE (repo, kind, name, version, arch)
);
CREATE INDEX packages_build ON packages (build_id);
CREATE INDEX packages_repo_channel ON packages (repo, channel);

CREATE TABLE jobs (
  id              TEXT PRIMARY KEY,
  repo            TEXT NOT NULL REFERENCES repos(name),
  kind            TEXT NOT NULL,
  params          TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'succeeded', 'failed')),
  attempts        INTEGER NOT NULL,
  max_attempts    INTEGER NOT NULL,
  lease_id        TEXT,
  lease_owner     TEXT,
  lease_expires_at BIGINT,
  heartbeat_at    BIGINT,
  error           TEXT,
  result          TEXT,
  log_size        BIGINT NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_at);

-- Build logs in chunks keyed by their byte offset, so several server
-- instances can append and a reader can resume from any offset.
CREATE TABLE job_logs (
  job_id      TEXT NOT NULL REFERENCES jobs(id),
  byte_offset BIGINT NOT NULL,
  byte_length BIGINT NOT NULL,
  text        TEXT NOT NULL,
  at          BIGINT NOT NULL,
  PRIMARY KEY (job_id, byte_offset)
);

CREATE TABLE publishes (
  id          TEXT PRIMARY KEY,
  repo        TEXT NOT NULL REFERENCES repos(name),
  state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
  requested_by TEXT NOT NULL,
  owner       TEXT NOT NULL,
  started_at  BIGINT NOT NULL,
  finished_at BIGINT,
  error       TEXT,
  report      TEXT
);
CREATE INDEX publishes_repo ON publishes (repo, started_at);

-- At most one row per repo: the primary key is the lock. A row whose
-- expires_at has passed belongs to a dead publisher and may be taken over.
CREATE TABLE publish_locks (
  repo        TEXT PRIMARY KEY REFERENCES repos(name),
  publish_id  TEXT NOT NULL,
  owner       TEXT NOT NULL,
  expires_at  BIGINT NOT NULL
);

CREATE TABLE audit_log (
  id          TEXT PRIMARY KEY,
  at          BIGINT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  target      TEXT NOT NULL,
  detail      TEXT
);
CREATE INDEX audit_target ON audit_log (target, at);

-- +goose Up
-- The change feed's outbox: the store writes one row in the transaction
-- of each change, so the feed holds every committed write and nothing of
-- a rolled-back one. Readers page through it by id (WHERE id > last), so
-- ids must grow in commit order, which SQLite's single writer gives (see
-- appendEvent in internal/sqlite/events.go). AUTOINCREMENT keeps the
-- largest id ever used in sqlite_sequence, so an id is never handed out
-- twice, even after the newest rows are deleted. user_id has no foreign
-- key, because the events of a deleted user outlive it. at is Unix
-- microseconds (UTC).
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    type    TEXT    NOT NULL CHECK (type IN ('user.created', 'user.updated', 'user.deleted')),
    user_id TEXT    NOT NULL,
    data    TEXT,   -- the user after the change, as JSON; NULL for a delete
    at      INTEGER NOT NULL
) STRICT;

-- Finds the events older than the retention to purge.
CREATE INDEX events_at_idx ON events (at);

-- +goose Down
DROP TABLE events;

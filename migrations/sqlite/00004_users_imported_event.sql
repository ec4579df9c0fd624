-- +goose Up
-- A bulk import writes one users.imported event with its totals (data)
-- instead of one event per row; its user_id is the zero UUID. SQLite
-- cannot alter a CHECK constraint, so the table is rebuilt; the copy
-- keeps every id, and sqlite_sequence (keyed by table name, renamed with
-- it) carries on from the largest, so ids are still never reused.
CREATE TABLE events_new (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    type    TEXT    NOT NULL CHECK (type IN ('user.created', 'user.updated', 'user.deleted', 'users.imported')),
    user_id TEXT    NOT NULL,
    data    TEXT,   -- the user after the change, or an import's totals, as JSON; NULL for a delete
    at      INTEGER NOT NULL
) STRICT;
INSERT INTO events_new (id, type, user_id, data, at) SELECT id, type, user_id, data, at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_at_idx ON events (at);

-- +goose Down
CREATE TABLE events_old (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    type    TEXT    NOT NULL CHECK (type IN ('user.created', 'user.updated', 'user.deleted')),
    user_id TEXT    NOT NULL,
    data    TEXT,
    at      INTEGER NOT NULL
) STRICT;
INSERT INTO events_old (id, type, user_id, data, at)
    SELECT id, type, user_id, data, at FROM events WHERE type <> 'users.imported';
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_at_idx ON events (at);

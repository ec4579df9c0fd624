-- +goose Up
-- name_lower is strings.ToLower(name), written by the store: the name
-- orders and their cursors compare it, and callers build cursors with Go's
-- strings.ToLower, while SQLite's lower() folds ASCII only. A cursor that
-- disagrees with the stored key skips or repeats rows. ADD COLUMN needs a
-- default for NOT NULL; the store always writes the column.
ALTER TABLE users ADD COLUMN name_lower TEXT NOT NULL DEFAULT '';
-- Older rows: lower() agrees with strings.ToLower on ASCII; a name with
-- other capitals gets the exact key the next time the store writes it.
UPDATE users SET name_lower = lower(name);

-- Serves both name orders (a backward scan for descending).
CREATE INDEX users_name_lower_id_idx ON users (name_lower, id);

-- A create request a client may retry. The created user is copied here
-- (user_*) so that a replay returns the original response even after the
-- user has been updated or deleted. Times are Unix microseconds.
CREATE TABLE idempotency_keys (
    subject         TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    user_name       TEXT    NOT NULL,
    user_email      TEXT    NOT NULL,
    user_created_at INTEGER NOT NULL,
    user_updated_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (subject, key)
) STRICT;

-- Finds expired keys to purge, oldest first.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP INDEX users_name_lower_id_idx;
ALTER TABLE users DROP COLUMN name_lower;

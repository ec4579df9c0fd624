-- +goose Up
-- name_lower is strings.ToLower(name), written by the store: the name
-- orders and their cursors compare it, and callers build cursors with Go's
-- strings.ToLower. PostgreSQL's lower() follows the database's ctype (only
-- ASCII under C) and could disagree, and a cursor that disagrees with the
-- stored key skips or repeats rows. Collation "C" orders it bytewise, as
-- SQLite and Go do, and lets a plain btree serve LIKE 'prefix%'.
ALTER TABLE users ADD COLUMN name_lower text COLLATE "C";
-- Older rows: lower() agrees with strings.ToLower on ASCII; a name with
-- other capitals gets the exact key the next time the store writes it.
UPDATE users SET name_lower = lower(name);
ALTER TABLE users ALTER COLUMN name_lower SET NOT NULL;

-- Serves both name orders (a backward scan for descending) and name
-- prefix search.
CREATE INDEX users_name_lower_id_idx ON users (name_lower, id);

-- Serves email prefix search whatever the database collation.
CREATE INDEX users_email_lower_pattern_idx ON users (lower(email) text_pattern_ops);

-- A create request a client may retry. The created user is copied here
-- (user_*) so that a replay returns the original response even after the
-- user has been updated or deleted.
CREATE TABLE idempotency_keys (
    subject         text        NOT NULL,
    key             text        NOT NULL,
    fingerprint     text        NOT NULL,
    user_id         uuid        NOT NULL,
    user_name       text        NOT NULL,
    user_email      text        NOT NULL,
    user_created_at timestamptz NOT NULL,
    user_updated_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (subject, key)
);

-- Finds expired keys to purge, oldest first.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP INDEX users_email_lower_pattern_idx;
DROP INDEX users_name_lower_id_idx;
ALTER TABLE users DROP COLUMN name_lower;

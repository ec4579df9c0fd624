-- +goose Up
-- Times are Unix microseconds (UTC): compact, exactly ordered, and the same
-- precision as PostgreSQL's timestamptz.
CREATE TABLE users (
    id         TEXT    PRIMARY KEY NOT NULL,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    email      TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);

-- +goose Down
DROP TABLE users;

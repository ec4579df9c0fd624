-- +goose Up
CREATE TABLE users (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    email      text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Uniqueness is the database's job, case-insensitively, so that concurrent
-- creates cannot both pass a pre-check.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Serves the list order: newest first, ties broken by id.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);

-- +goose Down
DROP TABLE users;

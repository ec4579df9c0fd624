-- +goose Up
-- The change feed's outbox: the store writes one row in the transaction
-- of each change, so the feed holds every committed write and nothing of
-- a rolled-back one. Readers page through it by id (WHERE id > last), so
-- ids must grow in commit order: the store takes an advisory lock before
-- each insert (see AppendEvent in internal/postgres/query.sql). That also
-- needs the identity's sequence to hand out values one at a time, in the
-- order nextval is called: keep its CACHE at the default, 1. user_id has
-- no foreign key, because the events of a deleted user outlive it.
CREATE TABLE events (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type    text        NOT NULL CHECK (type IN ('user.created', 'user.updated', 'user.deleted')),
    user_id uuid        NOT NULL,
    data    jsonb,      -- the user after the change; NULL for a delete
    at      timestamptz NOT NULL
);

-- Finds the events older than the retention to purge.
CREATE INDEX events_at_idx ON events (at);

-- +goose Down
DROP TABLE events;

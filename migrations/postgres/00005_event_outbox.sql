-- +goose Up
-- Writers no longer serialize on an advisory lock to append events in id
-- order. Each change writes its event here, in its own transaction, with
-- no ordering constraint; a reader of the feed moves the committed rows
-- into events under a lock (SequenceEvents in
-- internal/postgres/query.sql), so that event ids still become visible in
-- increasing order. A long transaction holds back only its own event.
-- The type check repeats the one on events: a row events would refuse
-- must fail its writer, not every later move.
CREATE TABLE event_outbox (
    seq     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type    text        NOT NULL CHECK (type IN ('user.created', 'user.updated', 'user.deleted', 'users.imported')),
    user_id uuid        NOT NULL,
    data    jsonb,
    at      timestamptz NOT NULL
);

-- +goose Down
-- Pending events are kept: moved into events, in order, as a reader would.
INSERT INTO events (type, user_id, data, at)
SELECT type, user_id, data, at FROM event_outbox ORDER BY seq;
DROP TABLE event_outbox;

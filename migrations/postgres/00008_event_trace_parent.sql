-- +goose Up
-- The W3C traceparent of the span that wrote the event (the request's
-- service call), so that its delivery to subscribers can be linked to the
-- write in a trace; NULL when that write was not traced or not sampled.
-- Written into the outbox with the event and moved with it into events
-- (SequenceEvents). Nullable without a default: no table rewrite.
ALTER TABLE event_outbox ADD COLUMN trace_parent text;
ALTER TABLE events ADD COLUMN trace_parent text;

-- +goose Down
ALTER TABLE events DROP COLUMN trace_parent;
ALTER TABLE event_outbox DROP COLUMN trace_parent;

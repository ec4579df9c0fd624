-- +goose Up
-- The W3C traceparent of the span that wrote the event (the request's
-- service call), so that its delivery to subscribers can be linked to the
-- write in a trace; NULL when that write was not traced or not sampled.
ALTER TABLE events ADD COLUMN trace_parent TEXT;

-- +goose Down
ALTER TABLE events DROP COLUMN trace_parent;

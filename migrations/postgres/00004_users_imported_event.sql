-- +goose Up
-- A bulk import writes one users.imported event with its totals (data)
-- instead of one event per row; its user_id is the zero UUID.
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check
    CHECK (type IN ('user.created', 'user.updated', 'user.deleted', 'users.imported'));

-- +goose Down
DELETE FROM events WHERE type = 'users.imported';
ALTER TABLE events DROP CONSTRAINT events_type_check;
ALTER TABLE events ADD CONSTRAINT events_type_check
    CHECK (type IN ('user.created', 'user.updated', 'user.deleted'));

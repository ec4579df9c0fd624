-- +goose Up
-- The user a keyed create made is kept as one JSON document, the user as
-- the domain encodes it (roster.User's JSON), instead of a column per
-- field: a new user field then needs no change here or in the queries.
-- It goes in as text (see AppendEvent in internal/postgres/query.sql).
ALTER TABLE idempotency_keys ADD COLUMN created_user jsonb;
-- Existing records: the same document the store now writes, times with
-- six fractional digits in UTC (roster.TimeLayout).
UPDATE idempotency_keys SET created_user = jsonb_build_object(
    'id', user_id,
    'name', user_name,
    'email', user_email,
    'created_at', to_char(user_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'updated_at', to_char(user_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
ALTER TABLE idempotency_keys ALTER COLUMN created_user SET NOT NULL;
ALTER TABLE idempotency_keys
    DROP COLUMN user_id,
    DROP COLUMN user_name,
    DROP COLUMN user_email,
    DROP COLUMN user_created_at,
    DROP COLUMN user_updated_at;

-- +goose Down
ALTER TABLE idempotency_keys
    ADD COLUMN user_id         uuid,
    ADD COLUMN user_name       text,
    ADD COLUMN user_email      text,
    ADD COLUMN user_created_at timestamptz,
    ADD COLUMN user_updated_at timestamptz;
UPDATE idempotency_keys SET
    user_id         = (created_user->>'id')::uuid,
    user_name       = created_user->>'name',
    user_email      = created_user->>'email',
    user_created_at = (created_user->>'created_at')::timestamptz,
    user_updated_at = (created_user->>'updated_at')::timestamptz;
ALTER TABLE idempotency_keys
    ALTER COLUMN user_id SET NOT NULL,
    ALTER COLUMN user_name SET NOT NULL,
    ALTER COLUMN user_email SET NOT NULL,
    ALTER COLUMN user_created_at SET NOT NULL,
    ALTER COLUMN user_updated_at SET NOT NULL,
    DROP COLUMN created_user;

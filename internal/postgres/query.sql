-- name: CreateUser :exec
INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: GetUser :one
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE id = $1;

-- The list queries come in one static pair per order: the first page
-- (also offset pages) and the pages after a cursor, whose bound is a plain
-- row comparison on the order's index. The filters are optional
-- conditions, which a generic plan cannot see past (it scans the table).
-- The store runs these queries as unnamed statements, planned with their
-- arguments each time (customPlanQueries in list.go): unused filters fold
-- away, a LIKE prefix becomes an index range and the cursor an index
-- condition. TestListPlans checks the plans. The filters, and the
-- parameters of each pair, are the same everywhere, so one set of
-- parameters converts to each query's.

-- name: ListUsersNewest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNewestAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (created_at, id) < (sqlc.arg('after_created_at')::timestamptz, sqlc.arg('after_id')::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit');

-- name: ListUsersOldest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY created_at, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersOldestAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (created_at, id) > (sqlc.arg('after_created_at')::timestamptz, sqlc.arg('after_id')::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg('limit');

-- name: ListUsersName :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY name_lower, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNameAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (name_lower, id) > (sqlc.arg('after_name')::text, sqlc.arg('after_id')::uuid)
ORDER BY name_lower, id
LIMIT sqlc.arg('limit');

-- name: ListUsersNameDesc :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNameDescAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (name_lower, id) < (sqlc.arg('after_name')::text, sqlc.arg('after_id')::uuid)
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit');

-- name: CountUsers :one
SELECT count(*)
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('prefix')::text IS NULL OR name_lower LIKE sqlc.narg('prefix') OR lower(email) LIKE sqlc.narg('prefix'))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'));

-- name: UpdateUser :one
-- updated_at always moves forward, even when the clock has not. With
-- if_updated_at, the row must still be the version the caller read.
UPDATE users
SET name       = coalesce(sqlc.narg('name'), name),
    name_lower = coalesce(sqlc.narg('name_lower'), name_lower),
    email      = coalesce(sqlc.narg('email'), email),
    updated_at = greatest(sqlc.arg('updated_at')::timestamptz, updated_at + interval '1 microsecond')
WHERE id = sqlc.arg('id')
  AND (sqlc.narg('if_updated_at')::timestamptz IS NULL OR updated_at = sqlc.narg('if_updated_at'))
RETURNING id, name, email, created_at, updated_at, name_lower;

-- name: DeleteUser :execrows
DELETE FROM users
WHERE id = sqlc.arg('id')
  AND (sqlc.narg('if_updated_at')::timestamptz IS NULL OR updated_at = sqlc.narg('if_updated_at'));

-- name: UserExists :one
SELECT EXISTS (SELECT 1 FROM users WHERE id = $1);

-- name: PurgeIdempotencyKeys :exec
-- Keyed creates each delete a few expired keys, oldest first, so the table
-- stays small without a background job. Keys another transaction holds are
-- skipped, not waited for.
DELETE FROM idempotency_keys
WHERE (subject, key) IN (
    SELECT k.subject, k.key
    FROM idempotency_keys k
    WHERE k.expires_at < sqlc.arg('now')
    ORDER BY k.expires_at
    LIMIT sqlc.arg('batch')
    FOR UPDATE SKIP LOCKED
);

-- name: ClaimIdempotencyKey :execrows
-- Records the key with the user about to be created, or takes over an
-- expired record of it; 0 rows means an unexpired record exists. A record
-- that another transaction is writing blocks this until it commits or
-- rolls back, so concurrent retries of a key create one user. "Now" is the
-- request's own time, created_at, which comes from the caller's clock.
INSERT INTO idempotency_keys (
    subject, key, fingerprint,
    user_id, user_name, user_email, user_created_at, user_updated_at,
    created_at, expires_at
)
VALUES (
    sqlc.arg('subject'), sqlc.arg('key'), sqlc.arg('fingerprint'),
    sqlc.arg('user_id'), sqlc.arg('user_name'), sqlc.arg('user_email'), sqlc.arg('user_created_at'), sqlc.arg('user_updated_at'),
    sqlc.arg('created_at'), sqlc.arg('expires_at')
)
ON CONFLICT (subject, key) DO UPDATE
SET fingerprint     = excluded.fingerprint,
    user_id         = excluded.user_id,
    user_name       = excluded.user_name,
    user_email      = excluded.user_email,
    user_created_at = excluded.user_created_at,
    user_updated_at = excluded.user_updated_at,
    created_at      = excluded.created_at,
    expires_at      = excluded.expires_at
WHERE idempotency_keys.expires_at < excluded.created_at;

-- name: IdempotencyKey :one
SELECT subject, key, fingerprint,
       user_id, user_name, user_email, user_created_at, user_updated_at,
       created_at, expires_at
FROM idempotency_keys
WHERE subject = $1 AND key = $2;

-- name: AppendEvent :exec
-- Writes the event of a change and notifies listeners; it must be the
-- last statement of the change's transaction. Readers page through events
-- by id (id > the last one seen), so ids must become visible in
-- increasing order. An identity alone does not give that: its value is
-- drawn at insert time and concurrent transactions commit in any order,
-- so a reader could see id 6, move past it, and never see id 5, which
-- commits just after. Hence the transaction-scoped advisory lock, taken
-- before the id is drawn (the insert reads the row of the locking CTE
-- first, so nextval runs after it) and held until the transaction ends,
-- after its commit has become visible: the next writer draws its id only
-- once this event can be read. The lock serializes writers from here to
-- their commit, so it comes last, and lock, insert and notification are
-- one statement: one round trip while holding it (three cost about half
-- the throughput). pg_notify is delivered at commit, never for a
-- rolled-back transaction. The key is an arbitrary constant ("roster",
-- then 0x0001), not goose's migration lock key.
WITH serialized AS MATERIALIZED (
    SELECT pg_advisory_xact_lock(8245936386494038017)
), appended AS (
    INSERT INTO events (type, user_id, data, at)
    SELECT sqlc.arg('type')::text, sqlc.arg('user_id')::uuid, sqlc.narg('data')::jsonb, sqlc.arg('at')::timestamptz
    FROM serialized
    RETURNING id
)
SELECT pg_notify('roster_events', id::text)
FROM appended;

-- name: EventsAfter :many
-- A range scan of the primary key, however long the table.
SELECT id, type, user_id, data, at
FROM events
WHERE id > sqlc.arg('after')
ORDER BY id
LIMIT sqlc.arg('limit');

-- name: EventBounds :one
SELECT coalesce(min(id), 0)::bigint AS oldest, coalesce(max(id), 0)::bigint AS newest
FROM events;

-- name: PurgeEvents :execrows
-- The newest event stays, so that EventBounds never goes back.
DELETE FROM events AS e
WHERE e.at < sqlc.arg('before')
  AND e.id < (SELECT max(newest.id) FROM events AS newest);

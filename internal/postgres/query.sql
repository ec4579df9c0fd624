-- name: CreateUser :exec
-- Without an event: for the benchmark's seeding (bench/seed).
INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: GetUser :one
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE id = $1;

-- The users of a set of ids, in one statement: coalesced get-by-id reads
-- (coalesce.go). The ids travel as text[]: pgx encodes a []string in
-- every exec mode, while the exec and simple protocol modes cannot encode
-- a []uuid.UUID (they do not ask the server for the parameter's type).
-- name: GetUsers :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE id = ANY(sqlc.arg(ids)::text[]::uuid[]);

-- The list queries come in one static pair per order: the first page
-- (also offset pages) and the pages after a cursor, whose bound is a plain
-- row comparison on the order's index. The filters are optional
-- conditions, which a generic plan cannot see past (it scans the table).
-- The store runs these queries as unnamed statements, planned with their
-- arguments each time (customPlanQueries in list.go): unused filters fold
-- away, a LIKE prefix becomes an index range and the cursor an index
-- condition. search is a LIKE pattern: 'text%' (a prefix, an index range
-- of the btree indexes under collation C) or '%text%' (anywhere, which
-- the trigram GIN indexes of migration 00007 serve; see filter in
-- list.go). TestListPlans checks the plans. search_email_of, when set,
-- limits the email side of the search to that user's row
-- (roster.UserFilter.SearchEmailOf). The filters, and the parameters of
-- each pair, are the same everywhere, so one set of parameters converts
-- to each query's.

-- name: ListUsersNewest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNewestAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (created_at, id) < (sqlc.arg('after_created_at')::timestamptz, sqlc.arg('after_id')::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit');

-- name: ListUsersOldest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY created_at, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersOldestAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (created_at, id) > (sqlc.arg('after_created_at')::timestamptz, sqlc.arg('after_id')::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg('limit');

-- name: ListUsersName :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY name_lower, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNameAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (name_lower, id) > (sqlc.arg('after_name')::text, sqlc.arg('after_id')::uuid)
ORDER BY name_lower, id
LIMIT sqlc.arg('limit');

-- name: ListUsersNameDesc :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNameDescAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'))
  AND (name_lower, id) < (sqlc.arg('after_name')::text, sqlc.arg('after_id')::uuid)
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit');

-- name: CountUsers :one
SELECT count(*)
FROM users
WHERE (sqlc.narg('email')::text IS NULL OR lower(email) = sqlc.narg('email'))
  AND (sqlc.narg('search')::text IS NULL OR name_lower LIKE sqlc.narg('search') OR (lower(email) LIKE sqlc.narg('search')
       AND (sqlc.narg('search_email_of')::uuid IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at > sqlc.narg('created_after'))
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before'));

-- The *WithEvent writes change a user and append its event in one
-- statement: one round trip, committed on its own, where a transaction
-- around two statements costs four. A write that matches no row appends
-- nothing.

-- name: CreateUserWithEvent :exec
-- data is the user as the store encodes it (roster.Event.Data).
WITH created AS (
    INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
    VALUES (sqlc.arg('id'), sqlc.arg('name'), sqlc.arg('email'), sqlc.arg('created_at'), sqlc.arg('updated_at'), sqlc.arg('name_lower'))
    RETURNING id, updated_at
)
INSERT INTO event_outbox (type, user_id, data, at, trace_parent)
SELECT 'user.created', id, sqlc.arg('data')::text::jsonb, updated_at, sqlc.narg('trace_parent')
FROM created;

-- name: CreateUsersWithEvents :many
-- Group commit (users.go): concurrent creates in one statement, each
-- user with its user.created event, in the order given. A row that
-- conflicts (its email taken, by a stored user or an earlier row here) is
-- skipped, not an error, so that it fails no other; the ids returned are
-- the users created, and the caller gives each skipped row the single
-- statement's own answer. The arrays travel as text[], which pgx encodes
-- in every exec mode (see GetUsers).
WITH input AS (
    -- Set-returning functions in one select list advance in lockstep:
    -- row i holds every array's element i, and ord is i.
    SELECT generate_subscripts(sqlc.arg('ids')::text[], 1) AS ord,
           unnest(sqlc.arg('ids')::text[])::uuid AS id,
           unnest(sqlc.arg('names')::text[]) AS name,
           unnest(sqlc.arg('name_lowers')::text[]) AS name_lower,
           unnest(sqlc.arg('emails')::text[]) AS email,
           unnest(sqlc.arg('created_ats')::text[])::timestamptz AS created_at,
           unnest(sqlc.arg('updated_ats')::text[])::timestamptz AS updated_at,
           unnest(sqlc.arg('datas')::text[]) AS data,
           -- '': the write was not traced.
           nullif(unnest(sqlc.arg('trace_parents')::text[]), '') AS trace_parent
), created AS (
    INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
    SELECT id, name, email, created_at, updated_at, name_lower
    FROM input
    ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id
)
INSERT INTO event_outbox (type, user_id, data, at, trace_parent)
SELECT 'user.created', input.id, input.data::jsonb, input.updated_at, input.trace_parent
FROM input JOIN created ON created.id = input.id
ORDER BY input.ord
RETURNING user_id;

-- name: UpdateUserWithEvent :one
-- updated_at always moves forward, even when the clock has not. With
-- if_updated_at, the row must still be the version the caller read. The
-- event's data is built here, as only the database knows the new
-- updated_at: the keys and values of roster.User's JSON (timestamps as
-- RFC 3339 with an offset, which decodes to the same instant).
WITH updated AS (
    UPDATE users
    SET name       = coalesce(sqlc.narg('name'), name),
        name_lower = coalesce(sqlc.narg('name_lower'), name_lower),
        email      = coalesce(sqlc.narg('email'), email),
        updated_at = greatest(sqlc.arg('updated_at')::timestamptz, updated_at + interval '1 microsecond')
    WHERE id = sqlc.arg('id')
      AND (sqlc.narg('if_updated_at')::timestamptz IS NULL OR updated_at = sqlc.narg('if_updated_at'))
    RETURNING id, name, email, created_at, updated_at, name_lower
), appended AS (
    INSERT INTO event_outbox (type, user_id, data, at, trace_parent)
    SELECT 'user.updated', id,
           jsonb_build_object('id', id, 'name', name, 'email', email, 'created_at', created_at, 'updated_at', updated_at),
           updated_at, sqlc.narg('trace_parent')
    FROM updated
)
SELECT id, name, email, created_at, updated_at, name_lower
FROM updated;

-- name: DeleteUserWithEvent :execrows
WITH deleted AS (
    DELETE FROM users
    WHERE id = sqlc.arg('id')
      AND (sqlc.narg('if_updated_at')::timestamptz IS NULL OR updated_at = sqlc.narg('if_updated_at'))
    RETURNING id
)
INSERT INTO event_outbox (type, user_id, data, at, trace_parent)
SELECT 'user.deleted', id, NULL, sqlc.arg('at'), sqlc.narg('trace_parent')
FROM deleted;

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
-- created_user is the user as JSON (roster.User), sent as text like event
-- data (see AppendEvent).
INSERT INTO idempotency_keys (subject, key, fingerprint, created_user, created_at, expires_at)
VALUES (
    sqlc.arg('subject'), sqlc.arg('key'), sqlc.arg('fingerprint'),
    sqlc.arg('created_user')::text::jsonb, sqlc.arg('created_at'), sqlc.arg('expires_at')
)
ON CONFLICT (subject, key) DO UPDATE
SET fingerprint  = excluded.fingerprint,
    created_user = excluded.created_user,
    created_at   = excluded.created_at,
    expires_at   = excluded.expires_at
WHERE idempotency_keys.expires_at < excluded.created_at;

-- name: IdempotencyKey :one
SELECT subject, key, fingerprint, created_user, created_at, expires_at
FROM idempotency_keys
WHERE subject = $1 AND key = $2;

-- Event data goes in as text, not as []byte: with pgx's simple protocol or
-- exec mode (for instance behind PgBouncer), []byte is sent as bytea.

-- name: AppendEvent :exec
-- Writes the event of a change into the outbox, in the change's
-- transaction; SequenceEvents later gives it its id in events. Writers
-- take no lock here and notify no one (a notification's commit-time lock
-- would serialize them): the process that wrote wakes its own feed, which
-- sequences and then notifies the other instances.
INSERT INTO event_outbox (type, user_id, data, at, trace_parent)
VALUES (sqlc.arg('type'), sqlc.arg('user_id'), sqlc.narg('data')::text::jsonb, sqlc.arg('at'), sqlc.narg('trace_parent'));

-- name: OutboxPending :one
-- Whether SequenceEvents has anything to do, without taking its lock.
SELECT EXISTS (SELECT 1 FROM event_outbox) AS pending;

-- name: LockSequencer :exec
-- Serializes SequenceEvents across connections and instances until the
-- transaction ends. A statement of its own, so that the move that follows
-- takes its snapshot after the previous holder's commit. The key is an
-- arbitrary constant ("roster", then 0x0001), not goose's migration lock key.
SELECT pg_advisory_xact_lock(8245936386494038017);

-- name: SequenceEvents :one
-- Moves every committed outbox row into events, in outbox order, after
-- LockSequencer in the same transaction. Readers page through events by id
-- (id > the last one seen), so ids must become visible in increasing
-- order: an identity drawn by concurrent writers would not (a reader could
-- see id 6, move past it, and never see id 5, committed just after). Here
-- only the lock holder draws ids, and it holds the lock until its commit
-- is visible, so the next holder's ids come after. Rows of transactions
-- still in progress are invisible to the DELETE and wait for a later
-- move. Outbox order keeps each user's events in order: a second change of
-- a user waits for the first one's row lock, so its outbox row comes
-- later, and no snapshot sees it without the first.
WITH moved AS (
    DELETE FROM event_outbox
    RETURNING seq, type, user_id, data, at, trace_parent
), appended AS (
    INSERT INTO events (type, user_id, data, at, trace_parent)
    SELECT type, user_id, data, at, trace_parent FROM moved ORDER BY seq
    RETURNING id
)
SELECT count(*)::bigint AS moved, coalesce(max(id), 0)::bigint AS newest
FROM appended;

-- name: NotifyEvents :exec
-- Wakes the feed of every instance (delivered at commit).
SELECT pg_notify('roster_events', sqlc.arg('newest')::bigint::text);

-- name: EventsAfter :many
-- A range scan of the primary key, however long the table.
SELECT id, type, user_id, data, at, trace_parent
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

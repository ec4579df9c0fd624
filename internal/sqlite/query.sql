-- name: CreateUser :exec
INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
VALUES (?, ?, ?, ?, ?, ?);

-- name: ImportUser :execrows
-- Inserts a row whose email is new; no row changes otherwise. The
-- import's two statements take CreateUser's columns in CreateUser's
-- order, so that their parameters convert from NewUserParams: a column
-- added to CreateUser and not to them does not compile.
INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;

-- name: ImportUpsertUser :one
-- Also gives an existing user the row's name, when it differs, and
-- returns the id of the row written: the new id when it was inserted.
INSERT INTO users (id, name, email, created_at, updated_at, name_lower)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (lower(email)) DO UPDATE
SET name = excluded.name, name_lower = excluded.name_lower,
    updated_at = max(excluded.updated_at, users.updated_at + 1)
WHERE users.name IS NOT excluded.name
RETURNING id;

-- name: GetUser :one
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE id = ?;

-- The list queries come in one static pair per order: the first page
-- (also offset pages) and the pages after a cursor. SQLite plans a
-- statement when it is prepared, not for its arguments, so the cursor's
-- bound must be a plain row-value comparison on the order's index, never
-- an optional one. The filters are optional conditions, checked on the
-- rows the index walk yields. The filters, and the parameters of each
-- pair, are the same everywhere, so one set of parameters converts to
-- each query's.
--
-- In the row values, the CASTs tell sqlc the parameters' types (it would
-- give every element the type of the first), and the unary + strips the
-- affinity the CAST adds: SQLite bounds the index scan by a column after
-- the first only if the compared value has no affinity of its own.
-- Without it the bound is created_at (or name_lower) alone, and rows tied
-- on it are filtered one by one. TestListPlans checks the plans.
--
-- search, when set, is text that the lower-cased name or email holds: at
-- their start when search_at is 1 (a prefix), anywhere when it is larger
-- than either can be long. instr, not LIKE, which would need its
-- metacharacters escaped and fold ASCII case on its own. Walking the
-- order's index, these queries find the first page soon when many users
-- hold the text; when few do, the search queries below find them through
-- the trigram index instead (the store chooses; see fewCandidates).
-- search_email_of, when set, limits the email side of the search to that
-- user's row (roster.UserFilter.SearchEmailOf).

-- name: ListUsersNewest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNewestAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (created_at, id) < (CAST(sqlc.arg('after_created_at') AS INTEGER), +CAST(sqlc.arg('after_id') AS TEXT))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit');

-- name: ListUsersOldest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY created_at, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersOldestAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (created_at, id) > (CAST(sqlc.arg('after_created_at') AS INTEGER), +CAST(sqlc.arg('after_id') AS TEXT))
ORDER BY created_at, id
LIMIT sqlc.arg('limit');

-- name: ListUsersName :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY name_lower, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNameAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (name_lower, id) > (CAST(sqlc.arg('after_name') AS TEXT), +CAST(sqlc.arg('after_id') AS TEXT))
ORDER BY name_lower, id
LIMIT sqlc.arg('limit');

-- name: ListUsersNameDesc :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListUsersNameDescAfter :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (name_lower, id) < (CAST(sqlc.arg('after_name') AS TEXT), +CAST(sqlc.arg('after_id') AS TEXT))
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit');

-- name: ListUsersByEmail :many
-- Emails are unique, so at most one user matches: the unique index finds
-- it, and the order and the cursor only decide whether it is on the page.
-- The queries above would walk the order's index to the end looking for
-- it.
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE lower(email) = sqlc.arg('email')
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (CAST(sqlc.narg('after_id') AS TEXT) IS NULL
       OR CASE CAST(sqlc.arg('sort') AS TEXT)
            WHEN '-created_at' THEN (created_at, id) < (CAST(sqlc.narg('after_created_at') AS INTEGER), sqlc.narg('after_id'))
            WHEN 'created_at' THEN (created_at, id) > (CAST(sqlc.narg('after_created_at') AS INTEGER), sqlc.narg('after_id'))
            WHEN 'name' THEN (name_lower, id) > (CAST(sqlc.narg('after_name') AS TEXT), sqlc.narg('after_id'))
            WHEN '-name' THEN (name_lower, id) < (CAST(sqlc.narg('after_name') AS TEXT), sqlc.narg('after_id'))
          END)
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- The search queries serve a search of three characters or more that few
-- users match (the store asks SearchCandidatesUpTo first): the trigram
-- index users_search (migration 00007) yields the rowids of the rows
-- holding the text anywhere, a few more than match, each read from users,
-- checked as above and sorted, so they cost what the matches do, however
-- large the table. As the matches are sorted anyway, the cursor's bound
-- is an optional condition, and one query per order serves the first
-- page and those after a cursor. candidates is the FTS5 query: the text
-- as one phrase.

-- name: SearchCandidatesUpTo :one
-- How many rows the trigram index yields for candidates, counting no
-- further than most.
SELECT count(*)
FROM (SELECT 1
      FROM users_search
      WHERE users_search MATCH CAST(sqlc.arg('candidates') AS TEXT)
      LIMIT sqlc.arg('most'));

-- name: SearchUsersNewest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE rowid IN (SELECT users_search.rowid FROM users_search WHERE users_search MATCH CAST(sqlc.arg('candidates') AS TEXT))
  AND (instr(name_lower, sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (CAST(sqlc.narg('after_id') AS TEXT) IS NULL
       OR (created_at, id) < (CAST(sqlc.narg('after_created_at') AS INTEGER), sqlc.narg('after_id')))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: SearchUsersOldest :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE rowid IN (SELECT users_search.rowid FROM users_search WHERE users_search MATCH CAST(sqlc.arg('candidates') AS TEXT))
  AND (instr(name_lower, sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (CAST(sqlc.narg('after_id') AS TEXT) IS NULL
       OR (created_at, id) > (CAST(sqlc.narg('after_created_at') AS INTEGER), sqlc.narg('after_id')))
ORDER BY created_at, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: SearchUsersName :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE rowid IN (SELECT users_search.rowid FROM users_search WHERE users_search MATCH CAST(sqlc.arg('candidates') AS TEXT))
  AND (instr(name_lower, sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (CAST(sqlc.narg('after_id') AS TEXT) IS NULL
       OR (name_lower, id) > (CAST(sqlc.narg('after_name') AS TEXT), sqlc.narg('after_id')))
ORDER BY name_lower, id
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: SearchUsersNameDesc :many
SELECT id, name, email, created_at, updated_at, name_lower
FROM users
WHERE rowid IN (SELECT users_search.rowid FROM users_search WHERE users_search MATCH CAST(sqlc.arg('candidates') AS TEXT))
  AND (instr(name_lower, sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'))
  AND (CAST(sqlc.narg('after_id') AS TEXT) IS NULL
       OR (name_lower, id) < (CAST(sqlc.narg('after_name') AS TEXT), sqlc.narg('after_id')))
ORDER BY name_lower DESC, id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: CountUsersSearch :one
SELECT count(*)
FROM users
WHERE rowid IN (SELECT users_search.rowid FROM users_search WHERE users_search MATCH CAST(sqlc.arg('candidates') AS TEXT))
  AND (instr(name_lower, sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.arg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'));

-- name: CountUsers :one
SELECT count(*)
FROM users
WHERE (CAST(sqlc.narg('email') AS TEXT) IS NULL OR lower(email) = sqlc.narg('email'))
  AND (CAST(sqlc.narg('search') AS TEXT) IS NULL
       OR instr(name_lower, sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
       OR (instr(lower(email), sqlc.narg('search')) BETWEEN 1 AND CAST(sqlc.arg('search_at') AS INTEGER)
           AND (CAST(sqlc.narg('search_email_of') AS TEXT) IS NULL OR id = sqlc.narg('search_email_of'))))
  AND (CAST(sqlc.narg('created_after') AS INTEGER) IS NULL OR created_at > sqlc.narg('created_after'))
  AND (CAST(sqlc.narg('created_before') AS INTEGER) IS NULL OR created_at < sqlc.narg('created_before'));

-- name: UpdateUser :one
-- updated_at always moves forward, even when the clock has not. With
-- if_updated_at, the row must still be the version the caller read.
UPDATE users
SET name       = coalesce(sqlc.narg('name'), name),
    name_lower = coalesce(sqlc.narg('name_lower'), name_lower),
    email      = coalesce(sqlc.narg('email'), email),
    updated_at = max(CAST(sqlc.arg('updated_at') AS INTEGER), updated_at + 1)
WHERE id = sqlc.arg('id')
  AND (CAST(sqlc.narg('if_updated_at') AS INTEGER) IS NULL OR updated_at = sqlc.narg('if_updated_at'))
RETURNING id, name, email, created_at, updated_at, name_lower;

-- name: DeleteUser :execrows
DELETE FROM users
WHERE id = sqlc.arg('id')
  AND (CAST(sqlc.narg('if_updated_at') AS INTEGER) IS NULL OR updated_at = sqlc.narg('if_updated_at'));

-- name: UserExists :one
SELECT EXISTS (SELECT 1 FROM users WHERE id = ?);

-- name: PurgeIdempotencyKeys :exec
-- Keyed creates each delete a few expired keys, oldest first, so the table
-- stays small without a background job.
DELETE FROM idempotency_keys
WHERE (subject, key) IN (
    SELECT k.subject, k.key
    FROM idempotency_keys k
    WHERE k.expires_at < sqlc.arg('now')
    ORDER BY k.expires_at
    LIMIT sqlc.arg('batch')
);

-- name: ClaimIdempotencyKey :execrows
-- Records the key with the user about to be created, or takes over an
-- expired record of it; 0 rows means an unexpired record exists. Writes
-- go through one connection, so a concurrent retry of the key waits for
-- this transaction and then finds the record. "Now" is the request's own
-- time, created_at, which comes from the caller's clock.
-- created_user is the user as JSON (roster.User).
INSERT INTO idempotency_keys (subject, key, fingerprint, created_user, created_at, expires_at)
VALUES (
    sqlc.arg('subject'), sqlc.arg('key'), sqlc.arg('fingerprint'),
    sqlc.arg('created_user'), sqlc.arg('created_at'), sqlc.arg('expires_at')
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
WHERE subject = ? AND key = ?;

-- name: AppendEvent :exec
INSERT INTO events (type, user_id, data, at, trace_parent)
VALUES (?, ?, ?, ?, ?);

-- name: EventsAfter :many
-- A range scan of the primary key, however long the table.
SELECT id, type, user_id, data, at, trace_parent
FROM events
WHERE id > sqlc.arg('after')
ORDER BY id
LIMIT sqlc.arg('limit');

-- name: EventBounds :one
-- SQLite reads min() or max() from the index only when it is the whole
-- query, hence one subquery each.
SELECT CAST(coalesce((SELECT min(id) FROM events), 0) AS INTEGER) AS oldest,
       CAST(coalesce((SELECT max(id) FROM events), 0) AS INTEGER) AS newest;

-- name: PurgeEvents :execrows
-- The newest event stays, so that EventBounds never goes back (and
-- AUTOINCREMENT would not reuse its id anyway).
DELETE FROM events AS e
WHERE e.at < sqlc.arg('before')
  AND e.id < (SELECT max(newest.id) FROM events AS newest);

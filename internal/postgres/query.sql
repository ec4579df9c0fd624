-- name: CreateUser :exec
INSERT INTO users (id, name, email, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5);

-- name: GetUser :one
SELECT id, name, email, created_at, updated_at
FROM users
WHERE id = $1;

-- name: ListUsers :many
SELECT id, name, email, created_at, updated_at
FROM users
ORDER BY created_at DESC, id DESC
LIMIT $1 OFFSET $2;

-- name: UpdateUser :one
-- updated_at always moves forward, even when the clock has not.
UPDATE users
SET name       = coalesce(sqlc.narg('name'), name),
    email      = coalesce(sqlc.narg('email'), email),
    updated_at = greatest(sqlc.arg('updated_at')::timestamptz, updated_at + interval '1 microsecond')
WHERE id = sqlc.arg('id')
RETURNING id, name, email, created_at, updated_at;

-- name: DeleteUser :execrows
DELETE FROM users
WHERE id = $1;

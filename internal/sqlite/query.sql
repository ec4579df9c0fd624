-- name: CreateUser :exec
INSERT INTO users (id, name, email, created_at, updated_at)
VALUES (?, ?, ?, ?, ?);

-- name: GetUser :one
SELECT id, name, email, created_at, updated_at
FROM users
WHERE id = ?;

-- name: ListUsers :many
SELECT id, name, email, created_at, updated_at
FROM users
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?;

-- name: UpdateUser :one
-- updated_at always moves forward, even when the clock has not.
UPDATE users
SET name       = coalesce(sqlc.narg('name'), name),
    email      = coalesce(sqlc.narg('email'), email),
    updated_at = max(CAST(sqlc.arg('updated_at') AS INTEGER), updated_at + 1)
WHERE id = sqlc.arg('id')
RETURNING id, name, email, created_at, updated_at;

-- name: DeleteUser :execrows
DELETE FROM users
WHERE id = ?;

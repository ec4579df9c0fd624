-- The database ceiling for GET /api/users/{id}: one user by primary key,
-- picked at random among the seeded ones. bench_ids maps 1..:users to the
-- seeded ids; the extra lookup in it costs a few microseconds, so the
-- ceiling is, if anything, a little low.
\set n random(1, :users)
SELECT id, name, email, created_at, updated_at FROM users WHERE id = (SELECT id FROM bench_ids WHERE n = :n);

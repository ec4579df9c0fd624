-- The helper tables of the pgbench scripts, made after bench/seed filled
-- users: bench_ids numbers the users 1..N (oldest first) so that a script
-- can pick one at random, and bench_users is a copy of users, same
-- columns, indexes and rows, for the insert ceiling.
\set ON_ERROR_STOP on

CREATE TABLE bench_ids (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_ids SELECT row_number() OVER (ORDER BY created_at, id), id FROM users;

CREATE TABLE bench_users (LIKE users INCLUDING ALL);
INSERT INTO bench_users SELECT * FROM users;

VACUUM ANALYZE users;
VACUUM ANALYZE bench_ids;
VACUUM ANALYZE bench_users;

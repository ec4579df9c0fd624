-- The database ceiling for POST /api/users: one row into bench_users, a
-- copy of users with the same indexes and rows, with a UUIDv7-like id (the
-- time first, as the service makes them) and a unique lower-case email.
-- The columns are those of the store's insert (CreateUser in
-- internal/postgres/query.sql): keep them in step.
INSERT INTO bench_users (id, name, email, created_at, updated_at, name_lower)
SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(r, 1, 3) || '8' || substr(r, 4, 15))::uuid,
       'Bench Insert', 'i-' || r || '@bench.example', t, t, 'bench insert'
FROM (SELECT clock_timestamp() AS t, md5(random()::text) AS r) s;

-- +goose Up
-- q= finds text anywhere in a name or an email: LIKE '%text%' on
-- name_lower and lower(email), which trigram GIN indexes serve (pg_trgm;
-- in the contrib modules that PostgreSQL's packages install with the
-- server, Debian's postgresql-NN included). pg_trgm is a trusted extension
-- (PostgreSQL 13+), so the owner of the database may create it; no
-- superuser needed. The trigrams are taken from the lower-cased text
-- that the queries compare, so a search for "émi" and one for "ÉMI" look
-- for the same trigrams. Searches shorter than three characters match at
-- the start instead (roster.MinContainsLength), which the btree indexes
-- of 00002 serve.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_name_lower_trgm_idx ON users USING gin (name_lower gin_trgm_ops);

CREATE INDEX users_email_lower_trgm_idx ON users USING gin (lower(email) gin_trgm_ops);

-- +goose Down
DROP INDEX users_email_lower_trgm_idx;
DROP INDEX users_name_lower_trgm_idx;
-- The extension stays: something else in the database may use it, and
-- creating it again is a no-op (IF NOT EXISTS).

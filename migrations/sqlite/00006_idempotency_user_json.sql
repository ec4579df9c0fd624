-- +goose Up
-- The user a keyed create made is kept as one JSON document, the user as
-- the domain encodes it (roster.User's JSON), instead of a column per
-- field: a new user field then needs no change here or in the queries.
-- A STRICT table cannot gain a NOT NULL column without a default, so the
-- table is rebuilt. Existing records get the same document the store now
-- writes: times from Unix microseconds to roster.TimeLayout in UTC (the
-- fraction taken modulo 10^6 upwards, so that times before 1970 convert
-- too).
CREATE TABLE idempotency_keys_new (
    subject      TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    created_user TEXT    NOT NULL, -- JSON
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (subject, key)
) STRICT;
INSERT INTO idempotency_keys_new (subject, key, fingerprint, created_user, created_at, expires_at)
SELECT subject, key, fingerprint,
       json_object(
           'id', user_id,
           'name', user_name,
           'email', user_email,
           'created_at', strftime('%Y-%m-%dT%H:%M:%S', (user_created_at - ((user_created_at % 1000000 + 1000000) % 1000000)) / 1000000, 'unixepoch')
                         || printf('.%06dZ', (user_created_at % 1000000 + 1000000) % 1000000),
           'updated_at', strftime('%Y-%m-%dT%H:%M:%S', (user_updated_at - ((user_updated_at % 1000000 + 1000000) % 1000000)) / 1000000, 'unixepoch')
                         || printf('.%06dZ', (user_updated_at % 1000000 + 1000000) % 1000000)),
       created_at, expires_at
FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- +goose Down
CREATE TABLE idempotency_keys_old (
    subject         TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    user_name       TEXT    NOT NULL,
    user_email      TEXT    NOT NULL,
    user_created_at INTEGER NOT NULL,
    user_updated_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (subject, key)
) STRICT;
INSERT INTO idempotency_keys_old
SELECT subject, key, fingerprint,
       json_extract(created_user, '$.id'),
       json_extract(created_user, '$.name'),
       json_extract(created_user, '$.email'),
       CAST(strftime('%s', substr(json_extract(created_user, '$.created_at'), 1, 19)) AS INTEGER) * 1000000
           + CAST(substr(json_extract(created_user, '$.created_at'), 21, 6) AS INTEGER),
       CAST(strftime('%s', substr(json_extract(created_user, '$.updated_at'), 1, 19)) AS INTEGER) * 1000000
           + CAST(substr(json_extract(created_user, '$.updated_at'), 21, 6) AS INTEGER),
       created_at, expires_at
FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_old RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

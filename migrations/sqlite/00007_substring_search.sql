-- +goose Up
-- q= finds text anywhere in a name or an email through an FTS5 index of
-- trigrams: a phrase of three characters or more matches exactly the
-- rows holding it, in any case (the tokenizer folds case, of every
-- script, and keeps accents: "emi" does not find "Émile" by name). It
-- indexes users (external content: the text is not stored twice), keyed
-- by users' rowid, which the triggers below keep in step on every write,
-- whatever statement makes it (the store's queries, imports' upserts).
-- VACUUM keeps the rowids of a table like users in the SQLite versions
-- roster ships with; should they ever change,
--   INSERT INTO users_search(users_search) VALUES ('rebuild')
-- rebuilds the index from users. Searches shorter than three characters
-- match at the start instead (roster.MinContainsLength), with the name
-- and email indexes.
CREATE VIRTUAL TABLE users_search USING fts5(
    name_lower, email,
    content = 'users', content_rowid = 'rowid',
    tokenize = 'trigram'
);

INSERT INTO users_search (users_search) VALUES ('rebuild');

-- +goose StatementBegin
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, name_lower, email) VALUES (new.rowid, new.name_lower, new.email);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, name_lower, email) VALUES ('delete', old.rowid, old.name_lower, old.email);
END;
-- +goose StatementEnd

-- Only a change of the indexed text touches the index (UpdateUser sets
-- every column, changed or not).
-- +goose StatementBegin
CREATE TRIGGER users_search_update AFTER UPDATE OF name_lower, email ON users
WHEN old.name_lower IS NOT new.name_lower OR old.email IS NOT new.email BEGIN
    INSERT INTO users_search (users_search, rowid, name_lower, email) VALUES ('delete', old.rowid, old.name_lower, old.email);
    INSERT INTO users_search (rowid, name_lower, email) VALUES (new.rowid, new.name_lower, new.email);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER users_search_update;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_insert;
DROP TABLE users_search;

-- +goose Up
-- q= finds text anywhere in a name or an email: instr(name_lower, text)
-- or instr(lower(email), text), the text lower-cased as name_lower is
-- (roster.NameKey). users_search indexes that very text, name_lower and
-- lower(email), in trigrams, case-sensitively, so that a phrase of three
-- characters or more finds the rows that hold it, without reading every
-- row; the store asks it when few rows do (fewCandidates in
-- internal/sqlite/list.go). It is contentless (the text is not stored
-- twice) and keyed by users' rowid, which the triggers below keep in step
-- on every write, whatever statement makes it (the store's queries,
-- imports' upserts). VACUUM keeps the rowids of a table like users in
-- the SQLite versions roster ships with; should the index ever disagree,
--   DELETE FROM users_search;
--   INSERT INTO users_search (rowid, name_lower, email)
--       SELECT rowid, name_lower, lower(email) FROM users;
-- rebuilds it. Searches shorter than three characters match at the start
-- instead (roster.MinContainsLength).
CREATE VIRTUAL TABLE users_search USING fts5(
    name_lower, email,
    content = '', contentless_delete = 1,
    tokenize = 'trigram case_sensitive 1'
);

INSERT INTO users_search (rowid, name_lower, email)
SELECT rowid, name_lower, lower(email) FROM users;

-- +goose StatementBegin
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, name_lower, email) VALUES (new.rowid, new.name_lower, lower(new.email));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
END;
-- +goose StatementEnd

-- Only a change of the indexed text touches the index (UpdateUser sets
-- every column, changed or not).
-- +goose StatementBegin
CREATE TRIGGER users_search_update AFTER UPDATE OF name_lower, email ON users
WHEN old.name_lower IS NOT new.name_lower OR lower(old.email) IS NOT lower(new.email) BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
    INSERT INTO users_search (rowid, name_lower, email) VALUES (new.rowid, new.name_lower, lower(new.email));
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER users_search_update;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_insert;
DROP TABLE users_search;

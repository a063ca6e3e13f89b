-- Versions of the index and the pointer to the live one. Each version's rows live in its own
-- tables (documents_v<id>, passages_v<id>, lexemes_v<id>, created by the store), so a version has
-- its own HNSW and GIN indexes and is removed with DROP TABLE.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE (it reads a dictionary); this form names the dictionary and is safe
-- to use in index expressions and stored columns.
CREATE OR REPLACE FUNCTION pioc_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN unaccent('unaccent'::regdictionary, $1);

-- Text-search configuration for an ISO 639-1 language code: the built-in Snowball one, else simple.
CREATE OR REPLACE FUNCTION pioc_ts_config(language text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE lower(coalesce(language, ''))
        WHEN 'en' THEN 'english' WHEN 'es' THEN 'spanish' WHEN 'pt' THEN 'portuguese'
        WHEN 'fr' THEN 'french' WHEN 'ar' THEN 'arabic' WHEN 'de' THEN 'german'
        WHEN 'it' THEN 'italian' WHEN 'nl' THEN 'dutch' WHEN 'ca' THEN 'catalan'
        WHEN 'ru' THEN 'russian' WHEN 'tr' THEN 'turkish' WHEN 'id' THEN 'indonesian'
        ELSE 'simple' END::regconfig;

CREATE TABLE versions (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    state           text NOT NULL CHECK (state IN ('building', 'ready', 'published')),
    dimension       integer NOT NULL,
    meta            jsonb NOT NULL DEFAULT '{}',
    builder_pid     integer,          -- backend pid of the writing connection while building
    builder_started timestamptz,      -- its backend_start: with the pid, identifies the builder
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);

-- Exactly one row: publish and rollback switch it in one UPDATE.
CREATE TABLE live (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version_id integer REFERENCES versions (id),
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO live (version_id) VALUES (NULL);

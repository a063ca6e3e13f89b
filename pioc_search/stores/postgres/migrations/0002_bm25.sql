-- BM25 of one passage over single-term tsqueries (the PostgreSQL store's lexical ranking, see store.py).
-- tf is ts_rank_cd of the term alone: the sum of its positions' field weights × scale.
CREATE OR REPLACE FUNCTION pioc_bm25(tsv tsvector, queries tsquery[], idfs float8[], weights float4[],
                                     scale float8, k1 float8, norm float8) RETURNS float8
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
DECLARE
    doc tsvector := tsv;  -- fetched from TOAST once, not once per term
    score float8 := 0;
    tf float8;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(queries), 0) LOOP
        tf := scale * ts_rank_cd(weights, doc, queries[i], 0);
        IF tf > 0 THEN
            score := score + idfs[i] * tf * (k1 + 1) / (tf + k1 * norm);
        END IF;
    END LOOP;
    RETURN score;
END $$;

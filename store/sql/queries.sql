-- put_item --
-- Insert or replace one item in a single statement, so two concurrent puts of one key never
-- collide (the second one waits for the first and updates its row). The value, TTL and expiry
-- are replaced; created_at is kept, unless the row had already expired: an expired item that
-- the prune has not deleted yet is gone for every reader, so a put re-creates it.
INSERT INTO store_item AS item (
    tenant, namespace, key, value, ttl, expires_at, created_at, updated_at
)
VALUES (
    %(tenant)s, %(namespace)s::text[], %(key)s, %(value)s::jsonb, %(ttl)s::interval,
    %(expires_at)s, %(now)s, %(now)s
)
ON CONFLICT (tenant, namespace, key) DO UPDATE SET
    value = EXCLUDED.value,
    ttl = EXCLUDED.ttl,
    expires_at = EXCLUDED.expires_at,
    updated_at = EXCLUDED.updated_at,
    created_at = CASE
        WHEN item.expires_at IS NOT NULL AND item.expires_at <= EXCLUDED.updated_at
            THEN EXCLUDED.created_at
        ELSE item.created_at
    END
RETURNING id, tenant, namespace, key, value, ttl, expires_at, created_at, updated_at

-- put_item_indexed --
-- put_item (in the marked place) and the item's embeddings, replaced in the same statement:
-- the DELETE sees the vectors as they were before it, the INSERT adds the new ones (none when
-- %(fields)s is empty: the put asked for no index).
WITH item AS (
    /*put_item*/
), gone AS (
    DELETE FROM store_vector AS vector
    USING item
    WHERE vector.item_id = item.id
), added AS (
    INSERT INTO store_vector (item_id, field, embedding)
    SELECT item.id, embedded.field, embedded.embedding::double precision[]
    FROM item
    CROSS JOIN unnest(%(fields)s::text[], %(embeddings)s::text[]) AS embedded(field, embedding)
)
SELECT id, tenant, namespace, key, value, ttl, expires_at, created_at, updated_at
FROM item

-- delete_item --
-- Delete one item by (tenant, namespace, key); the row count says whether there was one.
DELETE FROM store_item
WHERE tenant = %(tenant)s
  AND namespace = %(namespace)s::text[]
  AND key = %(key)s

-- get_item --
-- One live item by (namespace, key), pushing its expiry forward by its TTL when %(refresh)s
-- (LangGraph's refresh-on-read). The UPDATE runs in a data-modifying CTE so reading and
-- refreshing are one statement; the final SELECT sees the pre-update row, hence the coalesce.
WITH found AS (
    SELECT id
    FROM store_item
    WHERE tenant = %(tenant)s
      AND namespace = %(namespace)s::text[]
      AND key = %(key)s
      -- Expired rows are invisible until the prune deletes them.
      AND (expires_at IS NULL OR expires_at > %(now)s)
), refreshed AS (
    UPDATE store_item
    SET expires_at = %(now)s + store_item.ttl
    FROM found
    WHERE store_item.id = found.id
      AND %(refresh)s
      -- Items without a TTL never expire; there is nothing to refresh.
      AND store_item.ttl IS NOT NULL
    RETURNING store_item.id, store_item.expires_at
)
SELECT item.id, item.tenant, item.namespace, item.key, item.value, item.ttl,
       coalesce(refreshed.expires_at, item.expires_at) AS expires_at,
       item.created_at, item.updated_at
FROM found
JOIN store_item AS item ON item.id = found.id
LEFT JOIN refreshed ON refreshed.id = found.id

-- search_items --
-- A page of live items under a namespace prefix that pass a filter, refreshing their expiry
-- when %(refresh)s. The marked place gets the page's ids and scores: found_by_recency (most
-- recently updated first, score null) or found_by_similarity (best score first), each with
-- the pieces below that the request needs (store.selectors). The prefix matches label by label
-- ("*" matches any one label), so ["a"] matches ["a", "b"] but never ["ab"]. The filter arrives
-- as jsonb: %(contains)s for the GIN containment pre-filter, and %(comparisons)s as rows that
-- must all hold. A piece a request does not need would cost a subquery per item scanned.
WITH found AS (
    /*found*/
), refreshed AS (
    UPDATE store_item
    SET expires_at = %(now)s + store_item.ttl
    FROM found
    WHERE store_item.id = found.id AND %(refresh)s AND store_item.ttl IS NOT NULL
    RETURNING store_item.id, store_item.expires_at
)
SELECT item.id, item.tenant, item.namespace, item.key, item.value, item.ttl,
       coalesce(refreshed.expires_at, item.expires_at) AS expires_at,
       item.created_at, item.updated_at, found.score
FROM found
JOIN store_item AS item ON item.id = found.id
LEFT JOIN refreshed ON refreshed.id = found.id
ORDER BY found.score DESC NULLS LAST, item.updated_at DESC, item.namespace COLLATE "C",
         item.key COLLATE "C"

-- found_by_recency --
-- Most recently updated first (then by namespace and key, so pages are stable). Items are read
-- in the order of the (tenant, updated_at DESC) index when the prefix is broad, so LIMIT stops
-- early.
SELECT item.id, NULL::double precision AS score
FROM store_item AS item
WHERE item.tenant = %(tenant)s
  AND (item.expires_at IS NULL OR item.expires_at > %(now)s)
  /*prefix*/
  /*filter*/
ORDER BY item.updated_at DESC, item.namespace COLLATE "C", item.key COLLATE "C"
LIMIT %(limit)s OFFSET %(offset)s

-- found_by_similarity --
-- Best first by an item's most similar embedded text (cosine similarity to %(query_vector)s,
-- 1 is the same direction); items without embeddings are not ranked, as in LangGraph's
-- PostgreSQL store. The marked place gets one of the two similarity pieces below. One join
-- scans the matching items' vectors once; DISTINCT ON keeps each item's best.
SELECT best.id, best.score
FROM (
    SELECT DISTINCT ON (item.id)
        item.id, item.updated_at, item.namespace, item.key, /*similarity*/ AS score
    FROM store_item AS item
    JOIN store_vector AS vector ON vector.item_id = item.id
    WHERE item.tenant = %(tenant)s
      AND (item.expires_at IS NULL OR item.expires_at > %(now)s)
      /*prefix*/
      /*filter*/
    ORDER BY item.id, score DESC
) AS best
ORDER BY best.score DESC, best.updated_at DESC, best.namespace COLLATE "C",
         best.key COLLATE "C"
LIMIT %(limit)s OFFSET %(offset)s

-- similarity_pgvector --
-- pgvector's cosine distance, turned into a similarity; a zero vector's distance is NaN, which
-- would sort first: it counts as 0, as in similarity_plain.
1 - coalesce(
    nullif(vector.embedding::vector <=> %(query_vector)s::double precision[]::vector, 'NaN'), 1
)

-- similarity_plain --
-- The same cosine similarity without pgvector: the dot product over the norms (0 for a zero
-- vector, where pgvector answers NaN). As real[], what pgvector keeps too (its own type reads
-- as one, so this also serves a database whose extension was dropped from use).
(
    SELECT coalesce(sum(a * b) / nullif(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0), 0)
    FROM unnest(vector.embedding::real[], %(query_vector)s::double precision[]) AS pair(a, b)
)

-- prefix_exact --
-- A prefix without wildcards: the namespace's first labels are the prefix (a shorter namespace
-- slices shorter, so it never equals it); the GIN index may pre-filter on the labels.
AND item.namespace @> %(required_labels)s::text[]
AND item.namespace[1:cardinality(%(prefix)s::text[])] = %(prefix)s::text[]

-- prefix_with_wildcards --
-- A prefix with "*" labels: every other label somewhere in the namespace (GIN pre-filter), and
-- each one at its position.
AND item.namespace @> %(required_labels)s::text[]
AND cardinality(item.namespace) >= cardinality(%(prefix)s::text[])
AND NOT EXISTS (
    SELECT 1
    FROM unnest(%(prefix)s::text[]) WITH ORDINALITY AS p(label, position)
    WHERE p.label <> '*' AND p.label IS DISTINCT FROM item.namespace[p.position]
)

-- filter_conditions --
-- A filter: its exact matches through the GIN index (jsonb_path_ops), then no condition fails.
-- A missing key fails every operator but $ne; ordering operators compare numbers only (their
-- operand is a number, checked before the query).
AND item.value @> %(contains)s::jsonb
AND NOT EXISTS (
    SELECT 1
    FROM jsonb_to_recordset(%(comparisons)s::jsonb) AS c(field text, op text, operand jsonb)
    WHERE NOT coalesce(
        CASE c.op
            WHEN '$eq' THEN item.value -> c.field = c.operand
            WHEN '$ne' THEN item.value -> c.field IS DISTINCT FROM c.operand
            WHEN '$gt' THEN jsonb_typeof(item.value -> c.field) = 'number'
                            AND item.value -> c.field > c.operand
            WHEN '$gte' THEN jsonb_typeof(item.value -> c.field) = 'number'
                             AND item.value -> c.field >= c.operand
            WHEN '$lt' THEN jsonb_typeof(item.value -> c.field) = 'number'
                            AND item.value -> c.field < c.operand
            WHEN '$lte' THEN jsonb_typeof(item.value -> c.field) = 'number'
                             AND item.value -> c.field <= c.operand
        END,
        false
    )
)

-- list_namespaces --
-- The distinct namespaces of live items that match a prefix and a suffix (label by label, "*"
-- matches any one label), each cut to %(max_depth)s labels when given (then de-duplicated), in
-- code-point order like Python's sorted(), one page of them. The marked places get the pieces
-- the request needs (store.selectors), as for a search: the prefix's (search's own pieces),
-- suffix_condition, and the cut (a slice only with a max_depth).
SELECT namespace
FROM (
    SELECT DISTINCT /*cut*/ AS namespace
    FROM store_item AS item
    WHERE item.tenant = %(tenant)s
      AND (item.expires_at IS NULL OR item.expires_at > %(now)s)
      /*prefix*/
      /*suffix*/
) AS matching
ORDER BY namespace COLLATE "C"
LIMIT %(limit)s OFFSET %(offset)s

-- suffix_condition --
-- The suffix's labels are aligned with the end of the namespace; the GIN index may pre-filter
-- on every label the prefix and suffix name.
AND item.namespace @> %(required_labels)s::text[]
AND cardinality(item.namespace) >= cardinality(%(suffix)s::text[])
AND NOT EXISTS (
    SELECT 1
    FROM unnest(%(suffix)s::text[]) WITH ORDINALITY AS s(label, position)
    WHERE s.label <> '*'
      AND s.label IS DISTINCT FROM item.namespace[
          cardinality(item.namespace) - cardinality(%(suffix)s::text[]) + s.position
      ]
)

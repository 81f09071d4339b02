-- A saga write's records travel as one outbox row per topic, not one row
-- per record.
--
-- An activation appends some 14 records to saga.events.v1 and
-- lifecycle.events.v1, in about 1.6 saga writes. As rows of their own,
-- each record was an insertion into the table and its primary key, a
-- deletion once the relay published it, and vacuum's work after that: a
-- third of the WAL records of an activation. A packed row holds up to 64
-- records of one topic, about 7 kB of them, in `records` (a JSON array:
-- {"topic", "key" in base64, "text" (a value that is UTF-8 text) or
-- "value" in base64, "headers" as in the column}), and `record_count`
-- says how many; a row of one record keeps `records`
-- NULL and its record in topic, key, value and headers, as every row
-- before this migration and every row of intake and the drift scanner.
-- The relay publishes a packed row's records in order and deletes the row
-- once Kafka has all of them.
--
-- A packed row's `headers` is the object {"packed": true}. The relay of an
-- earlier version reads every row as one record, and refuses headers that
-- are not an array: during a rolling upgrade, an older instance that holds
-- the relay lease fails its round on the first packed row (and lets the
-- lease go with its connection) instead of publishing the row as an empty
-- record and deleting it; a relay of this version takes the lease over.
ALTER TABLE outbox
  ADD COLUMN records json,
  ADD COLUMN record_count int NOT NULL DEFAULT 1;

-- Kept uncompressed, and in the row up to the page's size: the relay reads
-- each row once, soon after it was written, and deletes it; compressing it,
-- or moving it out to the TOAST table, would cost more than it saves.
ALTER TABLE outbox ALTER COLUMN records SET STORAGE EXTERNAL;
ALTER TABLE outbox SET (toast_tuple_target = 8160);

-- One row per record, packed or not, in the order the relay publishes them
-- (id, then pos; pos is NULL for a row of one record): what operators and
-- tests read.
CREATE VIEW outbox_records AS
SELECT o.id, NULL::int AS pos, o.topic, o.key, o.value, o.headers,
       o.created_at, o.published_at
  FROM outbox o
 WHERE o.records IS NULL
UNION ALL
SELECT o.id, (r.k - 1)::int, r.topic, decode(r.key, 'base64'),
       COALESCE(convert_to(r.text, 'UTF8'), decode(r.value, 'base64')),
       r.headers, o.created_at, o.published_at
  FROM outbox o
 CROSS JOIN LATERAL
       ROWS FROM (json_to_recordset(o.records)
                    AS (topic text, key text, text text, value text,
                        headers jsonb))
       WITH ORDINALITY AS r(topic, key, text, value, headers, k)
 WHERE o.records IS NOT NULL;

-- Two indexes that every activation wrote and no query reads.
--
-- outbox_unsent_idx: since the relay deletes a row once Kafka has its
-- record (instead of setting published_at), every row it looks for is
-- unpublished, and the primary key gives them in id order as this index
-- did. It held the same entries as the primary key: each record a saga
-- write appends (some 14 per activation) cost a second index insertion,
-- its WAL and its vacuum.
--
-- Rows an earlier version marked by setting published_at are in Kafka. The
-- relay's scan in id order would read past them until retention deleted
-- them (retention.outbox_seconds): they go now. An instance of an earlier
-- version that still marks rows during a rolling upgrade leaves a few more,
-- which the relay skips and retention deletes.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX IF EXISTS outbox_unsent_idx;

-- inbox_unstarted_idx (id) over unstarted events: since schema 0009 the
-- startable poll finds them through inbox_unstarted_tenant_idx (tenant_id,
-- id), with the same predicate, and inbox_unstarted_subscriber_idx; an
-- event by its id goes through the primary key.
DROP INDEX IF EXISTS inbox_unstarted_idx;

-- The relay finds unpublished outbox rows by the primary key alone.
--
-- Since the relay deletes a row once Kafka has its record (instead of
-- setting published_at), every row it looks for is unpublished, and the
-- primary key gives them in id order as outbox_unsent_idx did. That index
-- held the same entries as the primary key: every record a saga write
-- appends (some 14 per activation) cost a second index insertion, its WAL
-- and its vacuum.
--
-- Rows an earlier version marked by setting published_at are in Kafka. The
-- relay's scan in id order would read past them until retention deleted
-- them (retention.outbox_seconds): they go now. An instance of an earlier
-- version that still marks rows during a rolling upgrade leaves a few more,
-- which the relay skips and retention deletes.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX IF EXISTS outbox_unsent_idx;

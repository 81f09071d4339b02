-- Inbox identity per tenant: an event is (tenant_id, source, event_id), so
-- two tenants' producers that happen to use the same source and id neither
-- collide nor shadow each other's events (before, the second one was taken
-- for a duplicate of the first and silently dropped).
--
-- Existing rows are unique by (source, event_id), hence by the wider key as
-- well: the new constraint always builds. Its index leads with tenant_id,
-- which inbox_subscriber_idx (tenant_id, subscriber_id, id) and the other
-- tenant-first indexes already do, so tenant-scoped look-ups keep their
-- plans.

ALTER TABLE inbox DROP CONSTRAINT inbox_source_event_id_key;
ALTER TABLE inbox
  ADD CONSTRAINT inbox_tenant_source_event_id_key
  UNIQUE (tenant_id, source, event_id);

-- The saga router shares each poll of startable events between tenants
-- (adapters/postgres/saga_store.cpp, ISPFLOW_STARTABLE_SQL): it lists the
-- tenants with unstarted events by a skip scan and reads each tenant's
-- oldest unstarted events in id order. Both walk this index, so a tenant's
-- backlog of 100,000 events costs one probe, not a sort of the backlog.
CREATE INDEX inbox_unstarted_tenant_idx ON inbox (tenant_id, id)
  WHERE saga_id IS NULL AND skipped_reason IS NULL;

-- Look-ups by a subscriber that a generic plan, made while the tables were
-- small, answered from an index that is cheap only while they are small.
--
-- A subscriber's record is read by its key (tenant_id, id) with every
-- started event (the saga router's startable poll) and when a saga's
-- outcome is recorded.
-- With the state and plan indexes led by tenant_id, the planner could
-- answer such a look-up from either (tenant_id as the only bound, id as a
-- filter), and did: each look-up then read every index entry of the
-- tenant (28 buffers per event at 12,000 subscribers, growing with the
-- tenant). Led by the column they are for, they cannot serve a key
-- look-up; a filter by (state or plan, tenant) reads them as before.
--
-- The startable poll asks, for each candidate event, whether its
-- subscriber has an older unstarted one. Both partial indexes of unstarted
-- events answer that: inbox_unstarted_tenant_idx (tenant_id, id) by
-- reading every older unstarted event of the tenant, this one by a probe.
-- Under a backlog the plan read the former (quadratic in the backlog). This
-- one now has a predicate of its own, which the poll names, so no other
-- index can stand in for it.
--
-- Built without CONCURRENTLY (migrations run in a transaction): writes to
-- `subscribers` and `inbox` wait while they are built (about a second per
-- million rows; the unstarted index holds only the events not started).
DROP INDEX subscribers_state_idx;
DROP INDEX subscribers_plan_idx;
CREATE INDEX subscribers_state_idx ON subscribers (state, tenant_id, id);
CREATE INDEX subscribers_plan_idx ON subscribers (plan_id, tenant_id, id);
DROP INDEX inbox_unstarted_subscriber_idx;
CREATE INDEX inbox_unstarted_subscriber_idx
  ON inbox (tenant_id, subscriber_id, id)
  WHERE COALESCE(saga_id, skipped_reason) IS NULL;

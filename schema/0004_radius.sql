-- ispflow's own record of each subscriber's RADIUS account. FreeRADIUS's
-- tables (0001) stay unchanged and carry no tenant or subscriber columns;
-- this table maps a subscriber to the RADIUS username written there, and
-- remembers the plan group to restore after a walled-garden suspension.
-- Written in the same transaction as the radcheck/radreply/radusergroup rows.
CREATE TABLE radius_accounts (
  tenant_id      text NOT NULL,
  subscriber_id  text NOT NULL,
  username       text NOT NULL UNIQUE,
  plan_group     text NOT NULL,
  denied         boolean NOT NULL DEFAULT false,
  -- The key of the last set_plan_group and the group it replaced, so a
  -- repeat with the same key reports the same previous group.
  plan_change_key      text,
  previous_plan_group  text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, subscriber_id)
);

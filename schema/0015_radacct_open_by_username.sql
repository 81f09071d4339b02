-- The open sessions of one user: the radius adapter looks them up by
-- username (disconnect, CoA, verify that a suspension closed them) as often
-- as it denies, and FreeRADIUS's schema (0001) indexes open radacct rows
-- only by AcctUniqueId and by NAS, so each look-up scanned every open
-- session (a dunning run of N subscribers did N such scans). Partial, like
-- FreeRADIUS's own radacct_active_session_idx: closed rows are not in it.
CREATE INDEX radacct_active_username_idx ON radacct (UserName)
  WHERE AcctStopTime IS NULL;

-- A username's first provision (0021) looks for rows already there by
-- index, whatever the statistics say.
--
-- The look-up is four EXISTS, each on an indexed username (radius_accounts
-- on its key as well). The planner costs an EXISTS by its first match.
-- Planned while a table is a few pages, never analyzed (a new database,
-- the first seconds of a burst of activations), a sequential scan is the
-- cheapest way to radusergroup; a session keeps that plan (the generic
-- one, after five calls) as the table grows, until its plans are dropped
-- (adapters/postgres/replan.hpp) or the table analyzed, and every
-- activation reads the whole table meanwhile. In an end-to-end run at
-- 500/s from a new database, radusergroup was read 0.26 times per
-- activation, 485 rows per activation, and the look-up took 0.34 ms
-- instead of 0.05. With sequential scans off, the function's statements
-- take their indexes from the first call on: every row they look for or
-- lock is found by key.
ALTER FUNCTION ispflow_radius_first_provision(
  text, text, text, text, text, text, text, text, text, text, text, text,
  integer, bigint, text)
  SET enable_seqscan = off;

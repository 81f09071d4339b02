-- A username's first provision (every activation) in one round trip.
--
-- The RADIUS store wrote it in a transaction of five round trips: BEGIN,
-- the username's advisory lock, the insert of every row when neither the
-- username nor the subscriber has any, the partition fence, COMMIT. The lock
-- must come before the statement that looks for rows (a statement's
-- snapshot is taken when it starts, so a look-up that waited for the lock
-- inside it would miss rows committed while it waited); a function runs each
-- of its statements with a snapshot of its own, so it can take the lock
-- first and look after it, all in the one statement that calls it, which
-- commits on its own.
--
-- The fence is read before the rows are written, not right before the
-- commit as the store's transactions do: its share lock is held until the
-- commit either way, so a claim of the partition waits for this write, and
-- a write found stale writes nothing. p_epoch 0: a write of no saga, no
-- fence.
--
-- outcome: 'written'; 'taken' (the username or the subscriber has rows:
-- nothing written, the store's general path decides under the lock); or
-- 'stale' (this instance does not hold p_partition at p_epoch; claimed,
-- holder and held_epoch say who does).
CREATE FUNCTION ispflow_radius_first_provision(
  p_username text, p_tenant text, p_subscriber text,
  p_attribute text, p_op text, p_value text, p_framed_ip text,
  p_group text, p_kept_attribute text, p_kept_op text, p_kept_value text,
  p_sealed text, p_partition int, p_epoch bigint, p_instance text,
  OUT outcome text, OUT claimed boolean, OUT holder text,
  OUT held_epoch bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(4242, hashtext(p_username));
  IF p_epoch > 0 THEN
    SELECT o.instance_id, o.epoch INTO holder, held_epoch
      FROM partition_owners o
     WHERE o.partition = p_partition
       FOR KEY SHARE;
    claimed := FOUND;
    IF NOT claimed OR holder <> p_instance OR held_epoch <> p_epoch THEN
      outcome := 'stale';
      RETURN;
    END IF;
  END IF;
  IF EXISTS (SELECT 1 FROM radius_accounts
              WHERE username = p_username
                 OR (tenant_id = p_tenant AND subscriber_id = p_subscriber))
     OR EXISTS (SELECT 1 FROM radcheck WHERE username = p_username)
     OR EXISTS (SELECT 1 FROM radreply WHERE username = p_username)
     OR EXISTS (SELECT 1 FROM radusergroup WHERE username = p_username) THEN
    outcome := 'taken';
    RETURN;
  END IF;
  INSERT INTO radcheck (username, attribute, op, value)
  VALUES (p_username, p_attribute, p_op, p_value);
  IF p_framed_ip <> '' THEN
    INSERT INTO radreply (username, attribute, op, value)
    VALUES (p_username, 'Framed-IP-Address', ':=', p_framed_ip);
  END IF;
  INSERT INTO radusergroup (username, groupname, priority)
  VALUES (p_username, p_group, 1);
  INSERT INTO radius_accounts (tenant_id, subscriber_id, username,
                               plan_group, denied, password_attribute,
                               password_op, password_value, password_sealed)
  VALUES (p_tenant, p_subscriber, p_username, p_group, false,
          p_kept_attribute, p_kept_op, p_kept_value, p_sealed);
  outcome := 'written';
END
$$;

-- An input event loses its secrets when its saga starts, not when the
-- saga no longer needs them: the saga's own row holds them while its steps
-- do (sagas::secrets_needed), and nothing reads them from the event once
-- the saga exists. The saga store's first write of a saga stores the
-- payload without them, made by the router (saga_write::inbox_payload):
-- this spares a statement that stripped them later, with the recursive
-- ispflow_strip_secrets, in most writes of an activation.
--
-- The trigger strips them when the writer did not, e.g. an instance of an
-- earlier version during a rolling upgrade. Its condition is false for a
-- payload already stripped (unless a value names a secret word: the strip
-- then changes nothing), so it costs a regular expression per started
-- event.
CREATE FUNCTION ispflow_inbox_started() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.payload := ispflow_strip_secrets(NEW.payload);
  RETURN NEW;
END
$$;

CREATE TRIGGER inbox_started_keeps_no_secrets
  BEFORE UPDATE OF saga_id ON inbox
  FOR EACH ROW
  WHEN (OLD.saga_id IS NULL AND NEW.saga_id IS NOT NULL
        AND NEW.payload::text ~* '(password|secret|token|psk)')
  EXECUTE FUNCTION ispflow_inbox_started();

-- Events whose sagas started before this migration.
UPDATE inbox SET payload = ispflow_strip_secrets(payload)
 WHERE saga_id IS NOT NULL AND ispflow_has_secrets(payload);

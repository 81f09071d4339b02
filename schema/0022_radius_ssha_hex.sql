-- FreeRADIUS reads the text of an octets attribute, SSHA2-512-Password
-- among them, as hex when it begins with "0x" or "0X", and fails the row
-- when the rest is not hex. Earlier versions wrote the password hash as
-- base64, which begins so once in 2,048 salts: FreeRADIUS rejected every
-- login of such an account. Provisioning now writes "0x" and hex; this
-- writes the affected base64 values as hex, the same octets (no password
-- is needed), in radcheck and in the copy that drift repair puts back
-- (radius_accounts, 0017). A value of this form cannot work in FreeRADIUS
-- whoever wrote it, so every radcheck row is mended, not only ispflow's.
-- Other values (base64 that works, hex) stay as they are.
CREATE FUNCTION pg_temp.ssha_as_hex(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
           WHEN v ~ '^0[xX][A-Za-z0-9+/]+={0,2}$' AND length(v) % 4 = 0
                AND length(v) > 88 AND v !~ '^0[xX]([0-9A-Fa-f]{2})+$'
           THEN '0x' || encode(decode(v, 'base64'), 'hex')
           ELSE v
         END
$$;

UPDATE radcheck SET value = pg_temp.ssha_as_hex(value)
 WHERE attribute = 'SSHA2-512-Password'
   AND pg_temp.ssha_as_hex(value) <> value;

UPDATE radius_accounts
   SET password_value = pg_temp.ssha_as_hex(password_value)
 WHERE password_attribute = 'SSHA2-512-Password'
   AND pg_temp.ssha_as_hex(password_value) <> password_value;

DROP FUNCTION pg_temp.ssha_as_hex(text);

-- FreeRADIUS reads the text of an octets attribute, SSHA2-512-Password
-- among them, as hex when it begins with "0x" or "0X", and fails the row
-- when the rest is not hex. Earlier versions wrote the password hash as
-- base64, which begins so once in 2,048 salts: FreeRADIUS rejected every
-- login of such an account. Provisioning now writes "0x" and hex; this
-- writes the affected base64 values as hex, the same octets (no password
-- is needed), in radcheck and in the copy that drift repair puts back
-- (radius_accounts, 0017). A value of this form cannot work in FreeRADIUS
-- whoever wrote it, so every radcheck row is mended, not only ispflow's.
-- Other base64 values work and stay as they are.
UPDATE radcheck
   SET value = '0x' || encode(decode(value, 'base64'), 'hex')
 WHERE attribute = 'SSHA2-512-Password'
   AND value ~ '^0[xX][A-Za-z0-9+/]+={0,2}$'
   AND length(value) % 4 = 0
   AND length(value) > 88
   AND value !~ '^0[xX]([0-9A-Fa-f]{2})+$';

UPDATE radius_accounts
   SET password_value = '0x' || encode(decode(password_value, 'base64'), 'hex')
 WHERE password_attribute = 'SSHA2-512-Password'
   AND password_value ~ '^0[xX][A-Za-z0-9+/]+={0,2}$'
   AND length(password_value) % 4 = 0
   AND length(password_value) > 88
   AND password_value !~ '^0[xX]([0-9A-Fa-f]{2})+$';

-- The password check row as provisioning wrote it to radcheck, kept in
-- ispflow's radius_accounts so that a drift repair can put it back when
-- the radcheck rows are deleted behind ispflow's back
-- (radius.restore_credentials, kind radius_user_missing). Kept only when
-- the password is stored hashed (e.g. SSHA2-512-Password): a cleartext
-- password is never kept here, so these columns stay NULL in cleartext
-- mode, and for accounts provisioned before this migration until they are
-- provisioned again; such accounts stay unrepairable.
ALTER TABLE radius_accounts
  ADD COLUMN password_attribute text,
  ADD COLUMN password_op        text,
  ADD COLUMN password_value     text,
  ADD CONSTRAINT radius_accounts_password_hashed CHECK (
    (password_attribute IS NULL AND password_op IS NULL
     AND password_value IS NULL)
    OR (password_attribute IS NOT NULL AND password_op IS NOT NULL
        AND password_value IS NOT NULL
        AND password_attribute <> 'Cleartext-Password'));

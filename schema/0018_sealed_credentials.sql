-- The subscriber's password sealed (AES-256-GCM, common/seal.hpp), kept
-- only when the operator configured a sealing key
-- (credentials.seal_key_files): a drift repair of a CPE that lost its PPPoE
-- credentials (kind cpe_param_mismatch, e.g. after a factory reset) opens
-- it at the step's execution and configures the CPE again. Stored as
-- `v1:<key id>:<base64 nonce>:<base64 ciphertext and tag>`, bound to the
-- row's (tenant_id, subscriber_id, username): a blob copied to another row
-- does not open. NULL without a key, for accounts provisioned before this
-- migration, and whenever the account is provisioned again without a key.
-- It sits next to the 0017 hash because both belong to the account that
-- provisioning wrote, and go with it (deprovision deletes the row).
ALTER TABLE radius_accounts
  ADD COLUMN password_sealed text,
  ADD CONSTRAINT radius_accounts_password_sealed_form CHECK (
    password_sealed IS NULL
    OR password_sealed ~ '^v1:[0-9a-f]{16}:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$');

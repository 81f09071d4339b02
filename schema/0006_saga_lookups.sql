-- Admission reads a subscriber's finished sagas (its state and what its
-- earlier sagas produced) before every saga it starts; without this index
-- that look-up scanned the tenant's whole saga history.
CREATE INDEX sagas_subscriber_idx
  ON sagas (tenant_id, subscriber_id, created_at);

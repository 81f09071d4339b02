-- ispflow core tables: tenants, plans, subscribers, inbox, outbox, dead letters.
--
-- Kafka keys, values and header values are arbitrary bytes: they live in
-- bytea columns, and headers in jsonb as an array of
--   {"key": <text>, "value": <base64>, "null": <bool>}
-- where a header key that is not valid UTF-8 (or holds NUL) is written as
-- "key_base64": <base64> instead of "key". "null" marks a Kafka null value
-- (then "value" is "").

CREATE TABLE tenants (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  settings    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plans (
  tenant_id     text NOT NULL REFERENCES tenants (id),
  id            text NOT NULL,
  radius_group  text NOT NULL,
  attributes    jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE subscribers (
  tenant_id     text NOT NULL REFERENCES tenants (id),
  id            text NOT NULL,
  state         text NOT NULL,
  plan_id       text,
  service_type  text,
  external_ids  jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

-- Every accepted billing event, once: (source, event_id) is the CloudEvents
-- identity. Row order (id) within a subscriber is processing order.
CREATE TABLE inbox (
  id             bigserial PRIMARY KEY,
  source         text NOT NULL,
  event_id       text NOT NULL,
  type           text NOT NULL,
  tenant_id      text NOT NULL,
  subscriber_id  text NOT NULL,
  event_time     timestamptz,
  traceparent    text,
  payload        jsonb NOT NULL,
  topic          text NOT NULL,
  partition      int NOT NULL,
  "offset"       bigint NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, event_id)
);
CREATE INDEX inbox_subscriber_idx ON inbox (tenant_id, subscriber_id, id);

-- Records to publish, in id order; the relay sets published_at.
CREATE TABLE outbox (
  id            bigserial PRIMARY KEY,
  topic         text NOT NULL,
  key           bytea,
  value         bytea,
  headers       jsonb NOT NULL DEFAULT '[]',
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE published_at IS NULL;

-- Input that intake refused, with the original bytes and the reason.
CREATE TABLE dead_letters (
  id           bigserial PRIMARY KEY,
  topic        text NOT NULL,
  partition    int NOT NULL,
  "offset"     bigint NOT NULL,
  key          bytea,
  value        bytea NOT NULL,
  headers      jsonb NOT NULL DEFAULT '[]',
  error        text NOT NULL,
  detail       text NOT NULL,
  tenant_id    text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  redriven_at  timestamptz,
  UNIQUE (topic, partition, "offset")
);
CREATE INDEX dead_letters_tenant_idx ON dead_letters (tenant_id, id);

#!/bin/bash
# FreeRADIUS in the compose stack: the image's stock configuration with
# rlm_sql on PostgreSQL (the database ispflowd writes), NAS clients read
# from its `nas` table, and a client for Docker's private range (the compose
# network, 172.16.0.0/12) with
# the secret /run/secrets/radius-secret. The database password comes from
# /run/secrets/postgres-password and is written to the module only.
set -euo pipefail
raddb=${RADDB:-/etc/freeradius}
sql=$raddb/mods-available/sql
pw=$(</run/secrets/postgres-password)
secret=$(</run/secrets/radius-secret)
sed -i -E \
  -e 's/^(\s*)dialect = .*/\1dialect = "postgresql"/' \
  -e 's/^(\s*)driver = "rlm_sql_null"/\1driver = "rlm_sql_${dialect}"/' \
  -e 's/^#(\s*)read_clients = yes/\1read_clients = yes/' \
  -e "s/^(\s*)#?\s*server = \"localhost\"/\1server = \"${RADIUS_DB_HOST}\"/" \
  -e "s/^(\s*)#?\s*login = \"radius\"/\1login = \"${RADIUS_DB_USER}\"/" \
  -e "s/^(\s*)radius_db = \"radius\"/\1radius_db = \"${RADIUS_DB_NAME}\"/" \
  -e 's/^#?(\s*)password = "radpass"/\1password = "radpass"/' \
  "$sql"
# The password last, without sed (it may hold any character).
text=$(<"$sql")
pw=${pw//\\/\\\\}
pw=${pw//\"/\\\"}
text=${text/password = \"radpass\"/password = \"$pw\"}
printf '%s\n' "$text" >"$sql"
ln -sfn ../mods-available/sql "$raddb/mods-enabled/sql"
rm -f "$raddb/mods-enabled/eap"
cat >>"$raddb/clients.conf" <<CLIENTS
client compose {
	ipaddr = 172.16.0.0/12
	secret = "${secret//\"/\\\"}"
}
CLIENTS
exec freeradius -f -l stdout

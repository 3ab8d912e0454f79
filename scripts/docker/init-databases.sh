#!/bin/sh
# One database per gateway, each owned by its own login (never the superuser), as the README
# recommends: the gateway migrates and uses its own database and nothing else.
set -eu
for party in kr vn; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -v password="$GATEWAY_DB_PASSWORD" -v role="eco_$party" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done

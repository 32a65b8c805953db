#!/bin/sh
# Samples PostgreSQL's client connections every 0.1 s into $1: "<epoch> <app role's> <all clients'>" per
# line (the sampler's own connection left out).
while :; do
  line=$(runuser -u postgres -- psql -XAtq -F ' ' -c "SELECT count(*) FILTER (WHERE usename = 'mysite'),
    count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
  echo "$(date +%s.%N) $line" >> "$1"
  sleep 0.1
done

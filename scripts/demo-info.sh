#!/usr/bin/env bash
# Prints how to reach the demo's Gunicorn/Django, and proves it answers.
set -euo pipefail
host=djangoops-demo
echo
echo "The sample app runs under systemd on the test host '$host' (a podman container, systemd as PID 1)."
podman exec "$host" systemctl --no-pager --lines=0 status gunicorn-mysite.service | sed -n '1,4p'
for path in /healthz /items/; do
  code=$(podman exec "$host" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:8000$path")
  echo "  GET http://127.0.0.1:8000$path (inside $host) -> $code"
done
cat <<EOT

Reach it:    podman exec $host curl -s http://127.0.0.1:8000/items/
Shell:       podman exec -it $host bash      (journalctl -u gunicorn-mysite, systemctl status ...)
Remove it:   make demo-destroy
EOT

#!/usr/bin/env bash
# Prints how to reach the demo's Gunicorn/Django from this shell, and proves it answers.
set -euo pipefail
host=djangoops-demo
# The controller-side address of the guest's port 80, Nginx in front of Gunicorn
# (molecule/demo/molecule.yml publishes it on 127.0.0.1, DEMO_PORT or 18000).
published=$(podman port "$host" 80/tcp | sed -n 1p)
url="http://$published"
echo
echo "The sample app runs under systemd on the test host '$host' (a podman container, systemd as PID 1),"
echo "behind Nginx (access log with upstream times: /var/log/nginx/mysite.access.log)."
podman exec "$host" systemctl --no-pager --lines=0 status gunicorn-mysite.service | sed -n '1,4p'
status=0
for path in /healthz /items/; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url$path" || true)
  echo "  GET $url$path -> $code"
  [ "$code" = 200 ] || status=1
done
cat <<EOT

Open it:     $url/items/      (curl -s $url/items/)
Shell:       podman exec -it $host bash      (journalctl -u gunicorn-mysite, systemctl status ...)
Remove it:   make demo-destroy
EOT
exit "$status"

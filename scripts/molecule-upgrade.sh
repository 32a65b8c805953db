#!/usr/bin/env bash
# Upgrade check: converge Molecule's default scenario with the collection as it is at git ref REF
# (default: main), then converge again with this checkout and require that nothing changes
# (Molecule's idempotence: no task changed, so no restart), that the master is the same process
# and the live gunicorn.conf.py the same bytes, then run the verifier. Hosts are destroyed at the end.
# Usage: scripts/molecule-upgrade.sh [REF]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ref=${1:-main}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/collections/ansible_collections/djangoops"
git archive --prefix=gunicorn/ "$ref" | tar -x -C "$work/collections/ansible_collections/djangoops"
# The same Molecule settings, with the collection found at REF's copy.
sed "s#ANSIBLE_COLLECTIONS_PATH: \${MOLECULE_PROJECT_DIRECTORY}/.build/collections#ANSIBLE_COLLECTIONS_PATH: $work/collections#" \
  .config/molecule/config.yml >"$work/config.yml"
grep -q "ANSIBLE_COLLECTIONS_PATH: $work/collections" "$work/config.yml" || { echo "upgrade: cannot point Molecule at $ref"; exit 1; }
host=djangoops-bookworm
facts() {
  podman exec "$host" sh -c 'systemctl show gunicorn-mysite.service -p MainPID; sha256sum /etc/gunicorn/mysite/gunicorn.conf.py'
}
molecule destroy -s default >/dev/null 2>&1
molecule create -s default && molecule prepare -s default || exit 1
echo "upgrade: converge with the collection at $ref ($(git rev-parse --short "$ref"))"
molecule -c "$work/config.yml" converge -s default || exit 1
before=$(facts)
echo "upgrade: converge with this checkout: nothing may change"
molecule idempotence -s default
idempotence=$?
after=$(facts)
molecule verify -s default
verify=$?
molecule destroy -s default >/dev/null 2>&1
[ "$before" = "$after" ] && same=0 || same=1
echo "upgrade from $ref: idempotence rc=$idempotence, same master and config rc=$same, verify rc=$verify"
echo "before: $before" | tr '\n' ' '; echo; echo "after:  $after" | tr '\n' ' '; echo
[ "$idempotence" -eq 0 ] && [ "$same" -eq 0 ] && [ "$verify" -eq 0 ]

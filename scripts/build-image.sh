#!/usr/bin/env bash
# Builds a systemd test-host image from Debian's packages with debootstrap and imports it into
# podman as localhost/djangoops-<suite>:latest. No registry is needed. The image is rebuilt
# only when this script changes (its hash is stored as an image label) or FORCE=1.
# Usage: scripts/build-image.sh [bookworm|trixie ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/molecule/shared/containers.conf}

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# acl: become_user to the unprivileged service user; python3-venv: the app's venv;
# python3-psutil: gunicorn_facts on the target (the role installs it too);
# python3-packaging: ansible.builtin.pip; python3-apt: ansible.builtin.apt/package (the role
# installs psutil through it; test hosts have no network to fetch python3-apt on first use);
# openssh-server: the scenarios that reach a host over SSH with become, as operators do.
INCLUDE=python3,python3-venv,python3-psutil,python3-packaging,python3-apt,systemd,systemd-sysv,dbus,sudo,procps,iproute2,ca-certificates,acl,curl,openssh-server
recipe_hash=$(sha256sum "$0" | cut -c1-16)

build_one() {
  local suite=$1 image="localhost/djangoops-$1:latest" rootfs
  local have
  have=$(podman image inspect --format '{{ index .Labels "djangoops.recipe" }}' "$image" 2>/dev/null || true)
  if [ "$have" = "$recipe_hash" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "build-image: $image is current"
    return 0
  fi
  rootfs=$(mktemp -d /var/tmp/djangoops-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  echo "build-image: debootstrap $suite (about a minute)"
  debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
    tail -30 "$rootfs.log" >&2; echo "build-image: debootstrap $suite failed" >&2; return 1; }
  rm -f "$rootfs.log"
  # A guest boots faster and quieter without units that make no sense in a container.
  for unit in systemd-resolved.service getty.target console-getty.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  echo "$suite-test-host" > "$rootfs/etc/hostname"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb
  tar -C "$rootfs" -c . | podman import --change "LABEL djangoops.recipe=$recipe_hash" \
    --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
  echo "build-image: built $image"
}

for suite in "${@:-bookworm}"; do
  build_one "$suite"
done

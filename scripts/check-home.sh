#!/usr/bin/env bash
# `make test` keeps everything in the checkout (ANSIBLE_HOME is .build/ansible-home): fail if a copy
# of this collection sits in the user's collections path, where it would shadow every other
# install of it (an `ansible-galaxy collection install` of a new tarball then says "Nothing to do").
# ansible-test's cache (~/.ansible/test: pip bootstrap, sanity venvs) is not a collection and stays.
set -euo pipefail
leftover=${HOME}/.ansible/collections/ansible_collections/djangoops
if [ -e "$leftover" ]; then
  echo "check-home: FAILED: $leftover exists (something installed the collection outside the checkout)" >&2
  ls -la "$leftover" >&2
  exit 1
fi
echo "check-home: nothing of djangoops in ~/.ansible/collections"

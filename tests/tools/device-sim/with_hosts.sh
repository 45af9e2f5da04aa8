#!/bin/sh
# with_hosts.sh HOSTS FIRST COMMAND...: runs COMMAND where /etc/hosts is the file HOSTS, in a
# private mount namespace (nothing outside it sees the change), after checking that localhost
# then resolves to FIRST before anything else: a test meets a resolver order this host may not
# have. Exit 77 (skipped) when mount namespaces are not available (no unshare, not root).
hosts=$1
first=$2
shift 2
if ! unshare -m true 2>/dev/null; then
  echo "skipped: no private mount namespace here (unshare -m needs root)"
  exit 77
fi
# shellcheck disable=SC2016 # expanded by the inner shell, from its arguments
exec unshare -m sh -c '
  hosts=$1 first=$2
  shift 2
  mount --bind "$hosts" /etc/hosts || exit 77
  resolved=$(getent ahosts localhost | head -n 1 | cut -d " " -f 1)
  if [ "$resolved" != "$first" ]; then
    echo "with $hosts as /etc/hosts localhost resolves to $resolved first, not $first" >&2
    exit 1
  fi
  exec "$@"
' with_hosts "$hosts" "$first" "$@"

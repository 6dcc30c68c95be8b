#!/bin/sh
# The container's entrypoint: `serve` (the default), `worker`, or any casetrail
# command (`db upgrade`, `token ...`, `verify --all`). `db upgrade` takes a lock,
# so a platform without one-shot jobs may run it before every start.
# A production-shaped process refuses to start without PostgreSQL and the three
# keys every process shares, naming what is missing, rather than generate keys
# that only it would know.
set -eu

[ "$#" -gt 0 ] || set -- serve

case "$1" in
serve | worker)
    missing=""
    for name in CASETRAIL_DATABASE_URL CASETRAIL_SECRET_KEY CASETRAIL_SIGNING_KEY \
        CASETRAIL_MASTER_KEY; do
        eval "value=\${$name:-}"
        [ -n "$value" ] || missing="$missing $name"
    done
    if [ -n "$missing" ]; then
        echo "casetrail $1: set$missing (README, \"Production on PostgreSQL\")" >&2
        exit 2
    fi
    ;;
esac

exec casetrail "$@"

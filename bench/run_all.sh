#!/bin/sh
# Every scenario of docs/performance.md, three runs each, medians last; JSON lines on stdout.
# Usage: bench/run_all.sh [extra chatbench options, e.g. --source /tmp/chatd-snapshot]
# Takes about 15 minutes on 2 cores (the login storms are bound by argon2id hashing).
set -eu
PY=${PYTHON:-python3}
B="$(dirname "$0")/chatbench.py"
R="--runs 3 --json"
for proto in line irc; do
    $PY "$B" fanout $R --protocol $proto --duration 5 --members 100 --senders 1 "$@"
    $PY "$B" fanout $R --protocol $proto --duration 5 --members 100 --senders 16 "$@"
    $PY "$B" fanout $R --protocol $proto --duration 5 --members 1000 --senders 10 "$@"
    $PY "$B" fanout $R --protocol $proto --duration 5 --rooms 10 --members 100 --senders 10 "$@"
    $PY "$B" latency $R --protocol $proto --duration 10 "$@"
    $PY "$B" capacity $R --protocol $proto "$@"
    $PY "$B" loginstorm $R --protocol $proto "$@"
done
for proto in line irc; do
    $PY "$B" cluster $R --protocol $proto --duration 5 --members 100 "$@"
    $PY "$B" cluster $R --protocol $proto --duration 5 --members 1000 "$@"
done
$PY "$B" loginstorm $R --members-service remote "$@"
$PY "$B" auths $R --logins 100 --concurrency 16 "$@"
$PY "$B" auths $R --logins 100 --concurrency 16 --members-service remote "$@"

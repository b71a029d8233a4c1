#!/bin/sh
# One-shot, before the nodes start: make sure the store (COUCHQUEUE_STORE) holds the admin
# token NAME and FILE holds its secret, so that the nodes run with auth on from the start.
# Safe to run again: an existing token whose secret file is there is kept. A token whose file
# is gone (a volume removed, or a run that died between the two steps) is revoked and made
# anew: nobody could read its secret any more. The secret is written, never printed.
set -eu

NAME="${COUCHQUEUE_BOOTSTRAP_TOKEN_NAME:-compose-admin}"
FILE="${COUCHQUEUE_BOOTSTRAP_TOKEN_FILE:-/var/lib/couchqueue/admin-token}"

names=$(couchqueue token list | awk 'NR > 1 { print $1 }')
if printf '%s\n' "$names" | grep -qx -- "$NAME"; then
    if [ -s "$FILE" ]; then
        echo "token $NAME exists; its secret is in $FILE"
        exit 0
    fi
    echo "token $NAME exists but its secret file $FILE does not: making it anew"
    couchqueue token revoke "$NAME" >/dev/null
fi
umask 077
couchqueue token create --name "$NAME" --role admin >"$FILE.new"
mv "$FILE.new" "$FILE"
echo "made token $NAME (role admin); its secret is in $FILE"

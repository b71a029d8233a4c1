#!/usr/bin/env bash
# One-shot set-up of the compose cluster's Couchbase Server: node name, cluster (data service
# only: CouchQueue uses key-value operations alone), the buckets and the application user.
# Safe to run again: each step is skipped when already done.
set -euo pipefail

HOST="${COUCHBASE_HOST:-couchbase}"
ADMIN="${COUCHBASE_ADMIN:-Administrator}"
ADMIN_PASSWORD="${COUCHBASE_ADMIN_PASSWORD:?set COUCHBASE_ADMIN_PASSWORD}"
APP_USER="${COUCHQUEUE_COUCHBASE_USER:-couchqueue}"
APP_PASSWORD="${COUCHQUEUE_COUCHBASE_PASSWORD:?set COUCHQUEUE_COUCHBASE_PASSWORD}"
BUCKET="${COUCHQUEUE_BUCKET:-couchqueue}"
TEST_BUCKET="${COUCHQUEUE_TEST_BUCKET:-couchqueue-test}"
RAM_MB="${COUCHBASE_RAM_MB:-1024}"
BUCKET_RAM_MB="${COUCHQUEUE_BUCKET_RAM_MB:-512}"
REPLICAS="${COUCHQUEUE_BUCKET_REPLICAS:-0}"
CLI=/opt/couchbase/bin/couchbase-cli

echo "waiting for Couchbase Server at ${HOST}:8091"
for _ in $(seq 1 120); do
    curl -fs "http://${HOST}:8091/pools" >/dev/null && break
    sleep 1
done
curl -fs "http://${HOST}:8091/pools" >/dev/null || { echo "Couchbase never answered" >&2; exit 1; }

if "${CLI}" server-list -c "${HOST}:8091" -u "${ADMIN}" -p "${ADMIN_PASSWORD}" >/dev/null 2>&1; then
    echo "cluster already initialised"
else
    # The node's name is what the SDK is told to connect to: the compose service name.
    "${CLI}" node-init -c "${HOST}:8091" --node-init-hostname "${HOST}"
    "${CLI}" cluster-init -c "${HOST}:8091" \
        --cluster-username "${ADMIN}" --cluster-password "${ADMIN_PASSWORD}" \
        --cluster-name couchqueue --services data --cluster-ramsize "${RAM_MB}"
fi

bucket() {
    local name="$1"
    if "${CLI}" bucket-list -c "${HOST}:8091" -u "${ADMIN}" -p "${ADMIN_PASSWORD}" | grep -qx "${name}"; then
        echo "bucket ${name} exists"
        return
    fi
    "${CLI}" bucket-create -c "${HOST}:8091" -u "${ADMIN}" -p "${ADMIN_PASSWORD}" \
        --bucket "${name}" --bucket-type couchbase --bucket-ramsize "$2" \
        --bucket-replica "${REPLICAS}" --enable-flush 1 --wait
}
bucket "${BUCKET}" "${BUCKET_RAM_MB}"
# The test suites write a fresh key prefix per test: a bucket of their own, flushed at will.
bucket "${TEST_BUCKET}" 256

"${CLI}" user-manage -c "${HOST}:8091" -u "${ADMIN}" -p "${ADMIN_PASSWORD}" --set \
    --rbac-username "${APP_USER}" --rbac-password "${APP_PASSWORD}" --auth-domain local \
    --roles "data_reader[${BUCKET}],data_writer[${BUCKET}],data_reader[${TEST_BUCKET}],data_writer[${TEST_BUCKET}]"
echo "Couchbase ready: buckets ${BUCKET}, ${TEST_BUCKET}; user ${APP_USER}"

#!/bin/sh
# The plain-shell equivalent of migrate-indexed-job.yaml: N workers of `azcse migrate --shard K/N`, each
# restarted until it finishes (its state is in a blob, so a restart anywhere resumes it), then the merged
# report. Run the loop for one K per machine (K=3 N=32 ./run-shards.sh), or all K on one machine (default).
#
#   AZURE_STORAGE_CONNECTION_STRING=... CONTAINER=data OLD_KEY=old.jwk NEW_KEY=new.jwk N=8 ./run-shards.sh
set -u
: "${CONTAINER:?set CONTAINER}" "${OLD_KEY:?set OLD_KEY}" "${NEW_KEY:?set NEW_KEY}" "${AZURE_STORAGE_CONNECTION_STRING:?set AZURE_STORAGE_CONNECTION_STRING}"
N=${N:-4}
AZCSE=${AZCSE:-azcse}
OUT=${OUT:-reports}
STATE_PREFIX=${STATE_PREFIX:-azcse-state/migrate-$CONTAINER}
TRIES=${TRIES:-10}
mkdir -p "$OUT"

worker() {
  k=$1
  try=1
  while :; do
    $AZCSE migrate "$CONTAINER" --key "$OLD_KEY" --new-key "$NEW_KEY" --shard "$k/$N" \
      --state "$STATE_PREFIX-$k-of-$N.json" --summary --report "$OUT/shard-$k.json" --outcomes "$OUT/shard-$k.jsonl" \
      --progress summary --progress-interval 60 >/dev/null 2>>"$OUT/shard-$k.log"
    rc=$?
    # 0 done, 2 finished with key/decryption failures (listed in the report): not retried.
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; then return "$rc"; fi
    if [ "$try" -ge "$TRIES" ]; then echo "shard $k: giving up after $try tries (exit $rc)" >&2; return "$rc"; fi
    try=$((try + 1))
    sleep 5
  done
}

if [ -n "${K:-}" ]; then
  worker "$K"
  exit $?
fi
k=0
while [ "$k" -lt "$N" ]; do
  worker "$k" &
  k=$((k + 1))
done
wait
# Every shard's summary summed; exit 3 if a shard's report is missing, 2/4 for failures.
$AZCSE report merge "$OUT"/shard-*.json --out "$OUT/merged.json"

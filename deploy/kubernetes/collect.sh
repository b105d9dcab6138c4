#!/usr/bin/env bash
# Takes back the summary.json of every pod of loadgen's Indexed Job (loadgen-job.yaml) from the
# pods' logs, where each pod printed it gzip'd and base64'd between two marker lines: a plain
# cluster has no volume that every pod and you can reach, but `kubectl logs` reaches every log.
#
# Usage: collect.sh [JOB] [DIR]   (default: loadgen reports/k8s), in kubectl's current namespace;
#        then: loadgen merge DIR ...
# Writes DIR/POD/summary.json per pod; exits 1 naming each pod whose log has no summary (its shard
# did not run: `kubectl logs` it), after collecting the others.
set -euo pipefail
job=${1:-loadgen}
out=${2:-reports/k8s}

pods=$(kubectl get pods -l "job-name=$job" -o name)
if [ -z "$pods" ]; then
  echo "collect: no pods of the job $job (kubectl get pods -l job-name=$job)" >&2
  exit 1
fi
missing=0
for pod in $pods; do
  name=${pod#pod/}
  encoded=$(kubectl logs "$pod" | awk '/^loadgen-summary-end/ { on = 0 } on { print } /^loadgen-summary-begin/ { on = 1 }')
  if [ -z "$encoded" ]; then
    echo "collect: $name printed no summary: kubectl logs $pod" >&2
    missing=1
    continue
  fi
  mkdir -p "$out/$name"
  printf '%s\n' "$encoded" | base64 -d | gunzip >"$out/$name/summary.json"
  echo "$out/$name/summary.json"
done
exit $missing

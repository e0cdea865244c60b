#!/usr/bin/env bash
# Empty the pages bucket (every version), delete the stack and wait until it is gone.
# DELETES ALL REGISTRATIONS: the table goes with the stack.
#
#   deploy/destroy.sh            (STACK, REGION as for deploy.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=deploy/env.sh
. deploy/env.sh
REGION=$("$PYTHON" -m regflow.ops.deploy region)

echo "--- emptying the pages bucket of stack ${STACK} (${REGION})"
if ! "$PYTHON" -m regflow.publish --stack "$STACK" --region "$REGION" --empty; then
  echo "(nothing to empty: the stack or its bucket is already gone)"
fi

echo "--- deleting stack ${STACK} (CloudFront takes several minutes)"
"$SAM" delete --stack-name "$STACK" --region "$REGION" --no-prompts
echo "stack ${STACK} deleted"

#!/usr/bin/env bash
# Empty the pages bucket (every version), delete the stack and wait until it is gone.
# The registrations table is KEPT (DeletionPolicy Retain, deletion protection): it holds the
# proof of consent. DELETE_DATA=yes deletes it too, after asking on a terminal.
#
#   deploy/destroy.sh                    (STACK, REGION as for deploy.sh)
#   DELETE_DATA=yes deploy/destroy.sh    (the table and every registration in it too)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=deploy/env.sh
. deploy/env.sh
REGION=$("$PYTHON" -m regflow.ops.deploy region)
# "<table> <present|absent>": the stack's table (its output, else TABLE_NAME or the default)
read -r TABLE STACK_STATE <<<"$("$PYTHON" -m regflow.ops.deploy table "$STACK")"

case "${DELETE_DATA:-}" in
  yes)
    if [ -t 0 ]; then
      printf 'DELETE_DATA=yes deletes table %s (%s) and every registration in it, for good.\n' "$TABLE" "$REGION"
      printf 'Type the table name to go on: '
      read -r answer
      if [ "$answer" != "$TABLE" ]; then
        echo "not deleting anything"
        exit 1
      fi
    fi
    ;;
  "" | no) ;;
  *)
    echo "DELETE_DATA=${DELETE_DATA}: say DELETE_DATA=yes to delete the registrations table" >&2
    exit 2
    ;;
esac

if [ "$STACK_STATE" = present ]; then
  echo "--- emptying the pages bucket of stack ${STACK} (${REGION})"
  if ! "$PYTHON" -m regflow.publish --stack "$STACK" --region "$REGION" --empty; then
    echo "(nothing to empty: the bucket is already gone)"
  fi

  echo "--- deleting stack ${STACK} (CloudFront takes several minutes)"
  "$SAM" delete --stack-name "$STACK" --region "$REGION" --no-prompts
  echo "stack ${STACK} deleted"
else
  echo "--- no stack ${STACK} in ${REGION}"
fi

if [ "${DELETE_DATA:-}" = yes ]; then
  echo "--- deleting table ${TABLE} (DELETE_DATA=yes)"
  TABLE_NAME="$TABLE" "$PYTHON" -m regflow.ops.deploy delete-table "$STACK"
else
  echo "table ${TABLE} is kept, with every registration in it (the proof of consent)."
  echo "  reuse it:   make deploy STACK=${STACK} REGION=${REGION} TABLE_NAME=${TABLE} REUSE_TABLE=yes ..."
  echo "  delete it:  make destroy STACK=${STACK} REGION=${REGION} TABLE_NAME=${TABLE} DELETE_DATA=yes"
fi

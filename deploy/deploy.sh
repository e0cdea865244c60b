#!/usr/bin/env bash
# Check, build the Lambda bundle, deploy the stack, upload the pages, print the page URL.
#
#   SENDER_EMAIL=no-reply@example.com OWNER_EMAIL=me@example.com deploy/deploy.sh
#
# Required: SENDER_EMAIL (an SES-verified identity in the region, or ALLOW_UNVERIFIED_SENDER=1),
#   OWNER_EMAIL (verified too while the account is in the SES sandbox).
# Optional: STACK (regflow; several stacks per account and region are fine), REGION (else
#   AWS_REGION, else AWS_DEFAULT_REGION, else your profile's region), ALARM_EMAIL,
#   ALARM_TOPIC_ARN, SITE_NAME (spaces allowed), TABLE_NAME, DOMAIN_NAME + CERTIFICATE_ARN (+ HOSTED_ZONE_ID), WEB_ACL_ARN,
#   REUSE_TABLE=yes (a new stack adopts the table a deleted one kept), SES_EVENTS_KEY (off|on),
#   EVENT_BUS_NAME, WEBHOOK_URL (commas between several), OWNER_DIGEST (off|daily),
#   TOKEN_TTL_HOURS, CONFIRM_CODE, CHALLENGE (pow, the stack's default; off),
#   CHALLENGE_DIFFICULTY, CONSENT_IP, CONSENT_TEXT_VERSION, CONFIRM_MODE,
#   CORS_ALLOW_ORIGINS, ADDRESS_MIN_INTERVAL_SECONDS,
#   ADDRESS_LIMIT_PER_DAY, IP_LIMIT_PER_HOUR, BLOCKED_EMAIL_DOMAINS, LOG_RETENTION_DAYS,
#   LOG_LEVEL, API_RATE_LIMIT, API_BURST_LIMIT, PRICE_CLASS, DEFAULT_LANGUAGE, TEMPLATES_DIR
#   (the site's own words: bundled, and used for the pages), PYTHON (.venv/bin/python), SAM
#   (.venv-deploy/bin/sam, from `make deploy-tools`, else sam on PATH).
# SENDER_DOMAIN=example.com (optional): the sending domain as an SES identity with Easy DKIM and
#   the MAIL FROM subdomain MAIL_FROM_SUBDOMAIN (default mail), and the DNS records to publish
#   (src/regflow/ops/sender_domain.py); SENDER_EMAIL defaults to no-reply@SENDER_DOMAIN.
# An optional variable set to the empty string resets its parameter (ALARM_EMAIL= make deploy);
# one left unset keeps the stack's previous value. The checks: src/regflow/ops/deploy.py.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=deploy/env.sh
. deploy/env.sh

if [ -n "${SENDER_DOMAIN:-}" ]; then
  export SENDER_EMAIL="${SENDER_EMAIL:-no-reply@${SENDER_DOMAIN}}"
  domain_region=$("$PYTHON" -m regflow.ops.deploy region)
  echo "--- sending domain ${SENDER_DOMAIN} (SES identity, Easy DKIM, MAIL FROM)"
  "$PYTHON" -m regflow.ops.sender_domain "$SENDER_DOMAIN" --region "$domain_region" \
    --mail-from-subdomain "${MAIL_FROM_SUBDOMAIN:-mail}"
fi

echo "--- checks (stack ${STACK})"
plan_text=$("$PYTHON" -m regflow.ops.deploy plan "$STACK")
# the region on the first line, then one parameter override a line (bash 3.2, macOS's: no
# mapfile, and an empty array is "unbound" under set -u, hence the ${params[@]+...} below)
REGION=
params=()
while IFS= read -r line; do
  if [ -z "$REGION" ]; then
    REGION=$line
  elif [ -n "$line" ]; then
    params+=("$line")
  fi
done <<<"$plan_text"

if [ "${REUSE_TABLE:-}" = yes ]; then
  # a table kept from a deleted stack: the new stack is made around it first (an IMPORT)
  echo "--- adopting the existing table (REUSE_TABLE=yes)"
  "$PYTHON" -m regflow.ops.deploy adopt-table "$STACK"
fi

echo "--- building the Lambda bundle (build/lambda)"
"$PYTHON" deploy/build_bundle.py

echo "--- deploying stack ${STACK} to ${REGION}"
"$SAM" deploy \
  --template-file template.yaml \
  --stack-name "$STACK" \
  --region "$REGION" \
  --capabilities CAPABILITY_IAM \
  --resolve-s3 \
  --no-confirm-changeset \
  --no-fail-on-empty-changeset \
  --tags "regflow:stack=${STACK}" "regflow:app=regflow" \
  --parameter-overrides ${params[@]+"${params[@]}"}

echo "--- uploading the pages"
"$PYTHON" -m regflow.publish --stack "$STACK" --region "$REGION" --source web

echo "--- stack outputs"
"$PYTHON" - "$STACK" "$REGION" <<'PY'
import sys
import boto3
stack, region = sys.argv[1:]
cfn = boto3.client("cloudformation", region_name=region)
outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
for output in sorted(outputs, key=lambda o: o["OutputKey"]):
    print(f"{output['OutputKey']:24} {output['OutputValue']}")
page = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "RegistrationPageUrl")
print(f"\nOpen {page} (a new distribution can take a few minutes to answer everywhere)")
print("Alarms notify the AlarmTopicArn above; with ALARM_EMAIL, confirm SNS's subscription mail.")
PY

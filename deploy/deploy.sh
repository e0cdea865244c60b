#!/usr/bin/env bash
# Build the Lambda bundle, deploy the stack, upload the pages, print the page URL.
#
#   SENDER_EMAIL=no-reply@example.com OWNER_EMAIL=me@example.com deploy/deploy.sh
#
# Required: SENDER_EMAIL, OWNER_EMAIL (both SES-verified while the account is in the sandbox).
# Optional: STACK (regflow), REGION (AWS_REGION, else us-east-1), TOKEN_TTL_HOURS, CONFIRM_MODE,
#   CORS_ALLOW_ORIGINS, ADDRESS_MIN_INTERVAL_SECONDS, ADDRESS_LIMIT_PER_DAY, IP_LIMIT_PER_HOUR,
#   BLOCKED_EMAIL_DOMAINS, LOG_RETENTION_DAYS, LOG_LEVEL, PRICE_CLASS, ALARM_TOPIC_ARN,
#   DEFAULT_LANGUAGE, TEMPLATES_DIR (the site's own words: bundled, and used for the pages),
#   PYTHON (.venv/bin/python), SAM (.venv-deploy/bin/sam, from `make deploy-tools`, else sam on
#   PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=deploy/env.sh
. deploy/env.sh

: "${SENDER_EMAIL:?set SENDER_EMAIL to the SES-verified From address (see README.md, Deploy to AWS)}"
: "${OWNER_EMAIL:?set OWNER_EMAIL to the address told about each confirmed registration}"

params=("SenderEmail=${SENDER_EMAIL}" "OwnerEmail=${OWNER_EMAIL}")
add_param() { # add_param ParameterName ENV_VAR: pass the variable only when it is set
  local value=${!2:-}
  if [ -n "$value" ]; then params+=("$1=$value"); fi
}
add_param TokenTtlHours TOKEN_TTL_HOURS
add_param ConfirmMode CONFIRM_MODE
add_param CorsAllowOrigins CORS_ALLOW_ORIGINS
add_param AddressMinIntervalSeconds ADDRESS_MIN_INTERVAL_SECONDS
add_param AddressLimitPerDay ADDRESS_LIMIT_PER_DAY
add_param IpLimitPerHour IP_LIMIT_PER_HOUR
add_param BlockedEmailDomains BLOCKED_EMAIL_DOMAINS
add_param LogRetentionDays LOG_RETENTION_DAYS
add_param LogLevel LOG_LEVEL
add_param CloudFrontPriceClass PRICE_CLASS
add_param AlarmTopicArn ALARM_TOPIC_ARN
add_param DefaultLanguage DEFAULT_LANGUAGE

echo "--- SES check (${REGION})"
"$PYTHON" - "$REGION" "$SENDER_EMAIL" "$OWNER_EMAIL" <<'PY' || true
import sys
import boto3
region, sender, owner = sys.argv[1:]
ses = boto3.client("sesv2", region_name=region)
def verified(address):
    for identity in (address, address.rsplit("@", 1)[1]):
        try:
            if ses.get_email_identity(EmailIdentity=identity).get("VerifiedForSendingStatus"):
                return True
        except ses.exceptions.NotFoundException:
            pass
    return False
if not verified(sender):
    print(f"WARNING: {sender} (or its domain) is not a verified SES identity in {region}: "
          "no mail can be sent until it is (README.md, Deploy to AWS, step 2)")
if not ses.get_account().get("ProductionAccessEnabled"):
    print("NOTE: this account is in the SES sandbox: mail reaches verified addresses only")
    if not verified(owner):
        print(f"WARNING: OWNER_EMAIL {owner} is not verified: owner notifications will fail")
PY

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
  --parameter-overrides "${params[@]}"

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
PY

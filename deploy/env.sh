# Shared by deploy.sh and destroy.sh (sourced from the repository root): the stack, its
# region and the tools, each overridable from the environment. The region is resolved by
# `python -m regflow.ops.deploy` (REGION, AWS_REGION, AWS_DEFAULT_REGION, the profile's).
STACK=${STACK:-regflow}
REGION=${REGION:-}
export REGION
PYTHON=${PYTHON:-.venv/bin/python}
if [ -z "${SAM:-}" ]; then
  if [ -x .venv-deploy/bin/sam ]; then SAM=.venv-deploy/bin/sam; else SAM=sam; fi
fi
export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}

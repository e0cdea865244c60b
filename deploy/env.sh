# Shared by deploy.sh and destroy.sh (sourced from the repository root): the stack, its
# region and the tools, each overridable from the environment.
STACK=${STACK:-regflow}
REGION=${REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}}
PYTHON=${PYTHON:-.venv/bin/python}
if [ -z "${SAM:-}" ]; then
  if [ -x .venv-deploy/bin/sam ]; then SAM=.venv-deploy/bin/sam; else SAM=sam; fi
fi
export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}

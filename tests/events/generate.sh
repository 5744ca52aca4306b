#!/usr/bin/env bash
# Regenerate the sample Lambda events in this folder, offline, with the AWS SAM CLI.
#
#   bash tests/events/generate.sh            # installs aws-sam-cli into a throwaway venv
#   SAM=/path/to/sam bash tests/events/generate.sh   # or use an existing sam binary
#
# The three SAM outputs are saved verbatim. SAM has no function-URL generator, so
# function_url.json is derived from the HTTP API (payload v2) event by changing only
# the fields the AWS Lambda docs ("Invoking Lambda function URLs", request payload)
# say a function URL sets differently. See README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SAM_CLI_TELEMETRY=0
# The version these files were generated with; override to try another.
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"

if [[ -n "${SAM:-}" ]]; then
  sam="$SAM"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m venv "$tmp/venv"
  "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==${SAM_CLI_VERSION}"
  sam="$tmp/venv/bin/sam"
fi
"$sam" --version >&2

# API Gateway REST API, Lambda proxy integration (payload format 1.0)
"$sam" local generate-event apigateway aws-proxy > "$here/apigw_rest_v1.json"
# API Gateway HTTP API (payload format 2.0)
"$sam" local generate-event apigateway http-api-proxy > "$here/http_api_v2.json"
# Application Load Balancer target group (SAM's only ALB generator is `alb request`;
# there is no `alb alb-target-group-request` and no multi-value-headers variant)
"$sam" local generate-event alb request > "$here/alb.json"
# EventBridge (CloudWatch Events) schedule: the daily purge's trigger
"$sam" local generate-event cloudwatch scheduled-event > "$here/scheduled.json"

# Lambda function URL: payload format 2.0, derived from the HTTP API event.
python3 - "$here/http_api_v2.json" "$here/function_url.json" <<'PY'
import json
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src) as f:
    event = json.load(f)

url_id = "33anwqw8fj"  # the example URL id in the AWS docs
region = "us-east-1"   # the region of SAM's default dns-suffix
ctx = event["requestContext"]

# Already what a function URL sends: placeholders Lambda fills with "$default".
assert event["version"] == "2.0"
assert event["routeKey"] == ctx["routeKey"] == ctx["stage"] == "$default"

ctx["apiId"] = url_id                                    # "the ID of the function URL"
ctx["domainName"] = f"{url_id}.lambda-url.{region}.on.aws"
ctx["domainPrefix"] = url_id
ctx["authentication"] = None   # "Function URLs don't use this parameter. Lambda sets this to null."
ctx["authorizer"] = None       # auth type NONE: null (AWS_IAM would give {"iam": {...}}, never "jwt")
event["pathParameters"] = None  # "Lambda sets this to null or excludes this from the JSON."
event["stageVariables"] = None  # likewise

with open(dst, "w") as f:
    json.dump(event, f, indent=2)
    f.write("\n")
PY

for f in apigw_rest_v1 http_api_v2 alb scheduled function_url; do
  python3 -m json.tool "$here/$f.json" > /dev/null
done
echo "regenerated: apigw_rest_v1.json http_api_v2.json alb.json scheduled.json function_url.json" >&2

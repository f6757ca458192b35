#!/usr/bin/env bash
# Deploy the Salesforce metadata in sf/ (Lead fields, permission set, report, dashboard) to an org
# the sf CLI is authorised for: validate first, then deploy. See sf/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/deploy_metadata.sh [options] TARGET_ORG

Validates the metadata in sf/force-app against TARGET_ORG (an alias or username the
Salesforce CLI is authorised for), then deploys it.

  Sandbox and scratch orgs: validated and deployed without running Apex tests.
  Production orgs:          refused unless --confirm-production is given; validated with the
                            local Apex tests (RunLocalTests), then the validated deployment
                            is quick-deployed, so the tests do not run twice.

Options:
  --confirm-production   allow a deployment to a production org
  --test-level LEVEL     override the test level (NoTestRun, RunLocalTests, RunAllTestsInOrg)
  --validate-only        stop after a successful validation
  --wait MINUTES         how long to wait for each step (default 33)
  -h, --help             show this text

Authorise an org first, for example:
  sf org login web --alias my-sandbox --instance-url https://test.salesforce.com
EOF
}

die() {
    echo "deploy_metadata: $*" >&2
    exit 1
}

# The value of a dotted path in a JSON document on stdin, or empty; node is there wherever sf is.
json_get() {
    node -e '
        let text = "";
        process.stdin.on("data", (chunk) => (text += chunk));
        process.stdin.on("end", () => {
            let value;
            try {
                value = process.argv[1].split(".").reduce((node, key) => node?.[key], JSON.parse(text));
            } catch {
                value = undefined;
            }
            process.stdout.write(value === undefined || value === null ? "" : String(value));
        });
    ' "$1"
}

# The message and the per-component and per-test failures of a `sf project deploy --json` result.
deploy_failures() {
    # shellcheck disable=SC2016  # JavaScript template literals, not shell expansions
    node -e '
        let text = "";
        process.stdin.on("data", (chunk) => (text += chunk));
        process.stdin.on("end", () => {
            let doc;
            try {
                doc = JSON.parse(text);
            } catch {
                console.log(text);
                return;
            }
            const details = doc.result?.details ?? doc.data?.details ?? {};
            const list = (value) => (value === undefined ? [] : [].concat(value));
            if (doc.message) console.log(doc.message);
            for (const f of list(details.componentFailures)) {
                console.log(`  ${f.componentType} ${f.fullName}: ${f.problem}`);
            }
            for (const f of list(details.runTestResult?.failures)) {
                console.log(`  test ${f.name}.${f.methodName}: ${f.message}`);
            }
        });
    '
}

confirm_production=false
validate_only=false
test_level=""
wait_minutes=33
target_org=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --confirm-production) confirm_production=true ;;
        --validate-only) validate_only=true ;;
        --test-level)
            [[ $# -ge 2 ]] || die "--test-level needs a value"
            test_level="$2"
            shift
            ;;
        --wait)
            [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--wait needs a number of minutes"
            wait_minutes="$2"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            usage >&2
            die "unknown option: $1"
            ;;
        *)
            [[ -z "$target_org" ]] || die "one TARGET_ORG only (got '$target_org' and '$1')"
            target_org="$1"
            ;;
    esac
    shift
done

if [[ -z "$target_org" ]]; then
    usage >&2
    die "TARGET_ORG is required"
fi
case "$test_level" in
    "" | NoTestRun | RunLocalTests | RunAllTestsInOrg) ;;
    *) die "unsupported --test-level '$test_level' (use NoTestRun, RunLocalTests or RunAllTestsInOrg)" ;;
esac

sf_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../sf" && pwd)"
source_dir="$sf_dir/force-app"
[[ -d "$source_dir" ]] || die "no metadata at $source_dir"

command -v sf >/dev/null 2>&1 ||
    die "the Salesforce CLI (sf) is not installed: npm install --global @salesforce/cli"
command -v node >/dev/null 2>&1 || die "node is not on PATH (the sf CLI needs it too)"

# sf resolves the project (sfdx-project.json, API version) from the working directory.
cd "$sf_dir"

echo "Checking that the sf CLI is authorised for '$target_org'..."
if ! display_json="$(sf org display --target-org "$target_org" --json 2>/dev/null)"; then
    die "the sf CLI is not authorised for '$target_org' (or its session has expired):
  $(json_get message <<<"$display_json" | tr -s '\n\t' '  ')
Authorise it with 'sf org login web --alias $target_org' (add --instance-url https://test.salesforce.com
for a sandbox) or 'sf org login jwt ...', then run this script again."
fi
username="$(json_get result.username <<<"$display_json")"
instance_url="$(json_get result.instanceUrl <<<"$display_json")"
[[ -n "$username" ]] || die "'sf org display --target-org $target_org' returned no username: $display_json"
echo "  $username at $instance_url"

# Organization.IsSandbox is the org's own answer. Scratch orgs report IsSandbox=false but have
# a trial expiration date; a production org has neither.
echo "Checking whether '$target_org' is a production org..."
query='SELECT IsSandbox, TrialExpirationDate, OrganizationType FROM Organization'
if ! org_json="$(sf data query --query "$query" --target-org "$target_org" --json 2>/dev/null)"; then
    die "could not query the Organization record of '$target_org' to tell production from sandbox:
$(json_get message <<<"${org_json:-}")"
fi
is_sandbox="$(json_get result.records.0.IsSandbox <<<"$org_json")"
trial_expires="$(json_get result.records.0.TrialExpirationDate <<<"$org_json")"
org_type="$(json_get result.records.0.OrganizationType <<<"$org_json")"
[[ "$is_sandbox" == true || "$is_sandbox" == false ]] ||
    die "unexpected answer to '$query' from '$target_org': $org_json"

if [[ "$is_sandbox" == false && -z "$trial_expires" ]]; then
    production=true
    echo "  production org ($org_type)"
    if [[ "$confirm_production" != true ]]; then
        die "'$target_org' ($username) is a production org. Validate in a sandbox first, then run
again with --confirm-production to deploy to production."
    fi
    test_level="${test_level:-RunLocalTests}"
else
    production=false
    echo "  sandbox or scratch org ($org_type)"
    test_level="${test_level:-NoTestRun}"
fi

echo "Validating sf/force-app against '$target_org' (test level $test_level)..."
if [[ "$production" == true && "$test_level" != NoTestRun ]]; then
    # A validation that ran tests can be quick-deployed by its job id.
    if ! validate_json="$(sf project deploy validate --source-dir force-app --target-org "$target_org" \
        --test-level "$test_level" --wait "$wait_minutes" --json)"; then
        die "validation against '$target_org' failed; nothing was deployed:
$(deploy_failures <<<"$validate_json")"
    fi
    job_id="$(json_get result.id <<<"$validate_json")"
    [[ -n "$job_id" ]] || die "validation succeeded but returned no job id: $validate_json"
    echo "  validated (job $job_id)"
    if [[ "$validate_only" == true ]]; then
        echo "Validation only: quick-deploy it within 10 days with
  sf project deploy quick --job-id $job_id --target-org $target_org"
        exit 0
    fi
    echo "Deploying the validated job $job_id to '$target_org'..."
    sf project deploy quick --job-id "$job_id" --target-org "$target_org" --wait "$wait_minutes" ||
        die "the quick deploy of validated job $job_id to '$target_org' failed; see the output above"
else
    sf project deploy start --dry-run --source-dir force-app --target-org "$target_org" \
        --test-level "$test_level" --wait "$wait_minutes" ||
        die "validation against '$target_org' failed; nothing was deployed (see the output above)"
    if [[ "$validate_only" == true ]]; then
        echo "Validation only: nothing deployed."
        exit 0
    fi
    echo "Deploying sf/force-app to '$target_org'..."
    sf project deploy start --source-dir force-app --target-org "$target_org" \
        --test-level "$test_level" --wait "$wait_minutes" ||
        die "the deployment to '$target_org' failed; see the output above"
fi

echo "Deployed to '$target_org'. Next: assign the SalesOps_Integration permission set to the
integration user (sf org assign permset --name SalesOps_Integration --on-behalf-of USERNAME
--target-org $target_org) and follow the remaining steps in sf/README.md."

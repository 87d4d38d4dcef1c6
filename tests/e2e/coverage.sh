#!/usr/bin/env bash
# Lambda API coverage (issue 14, point 9): every operation of the Lambda model shipped with
# the machine's newest boto3 is called with its smallest valid input (tests/e2e/coverage.py)
# and must be answered, except Lambda Managed Instances (capacity providers) and durable
# executions, which stay UnknownOperationException, and what tests/e2e/coverage.pending
# still lists. Prints the count answered.
source "$(dirname "$0")/lib.sh"
python3 -c 'import sys, botocore.session as s
sys.exit(len(s.get_session().get_service_model("lambda").operation_names) < 85)' 2>/dev/null ||
	missing_dep "python3 has no boto3 with the 85-operation Lambda model (2025-11-30 or later)"
start_server
if python3 "$(dirname "$0")/coverage.py" "$ENDPOINT" "$(dirname "$0")/coverage.pending" >"$WORK/coverage.out" 2>&1; then
	pass "$(grep '^coverage:' "$WORK/coverage.out")"
else
	cat "$WORK/coverage.out"
	fail "coverage: $(grep -c '^PROBLEM' "$WORK/coverage.out") problems"
fi
stop_server
finish

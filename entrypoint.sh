#!/bin/sh
# Fail fast on configuration Python would only discover later, then exec uvicorn
# so that SIGTERM from ECS reaches the server directly.
set -eu

# The same lists as the Python side's (src/app_env.py AppEnv and REGION_PATTERN, src/config.py
# LogLevel): tests/unit/test_entrypoint_lists.py keeps them equal.
ALLOWED="local development test staging production"
LOG_LEVELS="critical error warning info debug trace"
REGION_PATTERN='^[a-z]{2}(-[a-z]+)+-[0-9]+$'

fail() {
    printf 'entrypoint: %s\n' "$1" >&2
    exit 78 # EX_CONFIG
}

# one_of VALUE LIST: whether VALUE is exactly one of the words of LIST.
one_of() {
    for item in $2; do
        if [ "$1" = "$item" ]; then return 0; fi
    done
    return 1
}

suggest_env() {
    given=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
    case "$given" in
        prod | prd | live) echo production; return ;;
        stage | stg) echo staging; return ;;
        dev | develop) echo development; return ;;
        tst | testing) echo test; return ;;
        loc | localhost) echo local; return ;;
    esac
    for env in $ALLOWED; do
        case "$env" in "$given"*) echo "$env"; return ;; esac
        case "$given" in "$env"*) echo "$env"; return ;; esac
    done
}

APP_ENV="${APP_ENV:-local}"
if ! one_of "$APP_ENV" "$ALLOWED"; then
    nearest=$(suggest_env "$APP_ENV")
    if [ -n "$nearest" ]; then
        fail "APP_ENV='$APP_ENV' is not one of: $ALLOWED (did you mean '$nearest'?)"
    fi
    fail "APP_ENV='$APP_ENV' is not one of: $ALLOWED"
fi
export APP_ENV

if [ "$APP_ENV" = staging ] || [ "$APP_ENV" = production ]; then
    region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
    if [ -z "$region" ]; then
        fail "AWS_REGION is required when APP_ENV=$APP_ENV (for example AWS_REGION=us-east-1)"
    fi
    # grep matches line by line: a value with a newline ("us-east-1" then anything) must not pass.
    if [ "$region" != "${region%%[[:space:]]*}" ] || ! printf '%s' "$region" | grep -Eq "$REGION_PATTERN"; then
        fail "AWS_REGION='$region' is not an AWS region name (for example us-east-1)"
    fi
    export AWS_REGION="$region"
    # The replica's Region (empty: no failover), checked as AWS_REGION is.
    failover="${SECRETS_FAILOVER_REGION:-}"
    if [ -n "$failover" ] && { [ "$failover" != "${failover%%[[:space:]]*}" ] || ! printf '%s' "$failover" | grep -Eq "$REGION_PATTERN"; }; then
        fail "SECRETS_FAILOVER_REGION='$failover' is not an AWS region name (for example us-west-2)"
    fi
fi

PORT="${PORT:-8000}"
case "$PORT" in
    '' | *[!0-9]*) fail "PORT='$PORT' is not a port number" ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    fail "PORT='$PORT' is not a port number from 1 to 65535"
fi
# The bind address. Local mode serves the full /health to any peer, so it listens on loopback
# unless HOST says otherwise; elsewhere 0.0.0.0, which ECS (awsvpc: the task's own interface,
# reached by the load balancer) needs. The image sets HOST=0.0.0.0: a published port reaches a
# container on its own interface, never on its loopback.
if [ "$APP_ENV" = local ]; then HOST="${HOST:-127.0.0.1}"; else HOST="${HOST:-0.0.0.0}"; fi
case "$HOST" in
    '' | *[!0-9A-Za-z.:-]*) fail "HOST='$HOST' is not an address to bind (for example 127.0.0.1 or 0.0.0.0)" ;;
esac

# from_env_file NAME: NAME's value in the .env file (ENV_FILE, as src/config.py reads it, relative to
# this directory), or nothing. Read for the settings this script hands to uvicorn, so that a
# value in .env does what it does for every other setting: the environment first, then .env.
# The last `NAME=` line counts; quotes and a trailing ` # comment` come off. Every value is
# checked below against a fixed list or pattern, so none reaches the command line unchecked.
from_env_file() {
    file="${ENV_FILE:-.env}"
    case "$file" in /*) ;; *) file="$(dirname "$0")/$file" ;; esac
    [ -f "$file" ] || return 0
    sed -n "s/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}$1[[:space:]]*=[[:space:]]*//p" "$file" \
        | tail -n 1 | sed -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\\1/"
}

LOG_LEVEL="${LOG_LEVEL:-$(from_env_file LOG_LEVEL)}"
LOG_LEVEL=$(printf '%s' "${LOG_LEVEL:-info}" | tr '[:upper:]' '[:lower:]')
if ! one_of "$LOG_LEVEL" "$LOG_LEVELS"; then
    fail "LOG_LEVEL='$LOG_LEVEL' is not one of: $LOG_LEVELS"
fi
export LOG_LEVEL

# Whole seconds between requests on a connection; longer than the load balancer's idle timeout
# (the stack sets the ALB's to 60 s; src/config.py DEFAULT_KEEP_ALIVE_TIMEOUT, kept equal by a test).
KEEP_ALIVE_TIMEOUT="${KEEP_ALIVE_TIMEOUT:-$(from_env_file KEEP_ALIVE_TIMEOUT)}"
KEEP_ALIVE_TIMEOUT="${KEEP_ALIVE_TIMEOUT:-65}"
case "$KEEP_ALIVE_TIMEOUT" in
    '' | *[!0-9]* | 0*) fail "KEEP_ALIVE_TIMEOUT='$KEEP_ALIVE_TIMEOUT' is not whole seconds from 1 to 4000" ;;
esac
if [ "${#KEEP_ALIVE_TIMEOUT}" -gt 4 ] || [ "$KEEP_ALIVE_TIMEOUT" -gt 4000 ]; then
    fail "KEEP_ALIVE_TIMEOUT='$KEEP_ALIVE_TIMEOUT' is not whole seconds from 1 to 4000"
fi
export KEEP_ALIVE_TIMEOUT

# Seconds a request head may take to arrive (src/web/http_protocol.py reads it): over 0, at most 30.
REQUEST_HEAD_TIMEOUT="${REQUEST_HEAD_TIMEOUT:-$(from_env_file REQUEST_HEAD_TIMEOUT)}"
REQUEST_HEAD_TIMEOUT="${REQUEST_HEAD_TIMEOUT:-10}"
case "$REQUEST_HEAD_TIMEOUT" in
    '' | *[!0-9.]* | .* | *. | *.*.*) fail "REQUEST_HEAD_TIMEOUT='$REQUEST_HEAD_TIMEOUT' is not seconds over 0 and at most 30" ;;
esac
# Over 0 and at most 30 in shell arithmetic alone (no awk in a minimal image): whole part, then
# whether the fraction has a non-zero digit.
whole="${REQUEST_HEAD_TIMEOUT%%.*}"
fraction=$(printf '%s' "${REQUEST_HEAD_TIMEOUT#"$whole"}" | tr -d '.0')
whole=$(printf '%s' "$whole" | sed 's/^0*//')
whole="${whole:-0}"
if [ "${#whole}" -gt 2 ] || [ "$whole" -gt 30 ] || { [ "$whole" -eq 30 ] && [ -n "$fraction" ]; } \
    || { [ "$whole" -eq 0 ] && [ -z "$fraction" ]; }; then
    fail "REQUEST_HEAD_TIMEOUT='$REQUEST_HEAD_TIMEOUT' is not seconds over 0 and at most 30"
fi
export REQUEST_HEAD_TIMEOUT

cd "$(dirname "$0")"
# --no-proxy-headers: /health decides what to show on the socket's own peer address, and
# X-Forwarded-For from a client must never make it look like loopback.
# --http: uvicorn's h11 protocol with a bound on reading a request head (slowloris).
exec "${PYTHON:-python}" -m uvicorn src.main:app \
    --host "$HOST" --port "$PORT" --log-level "$LOG_LEVEL" \
    --http src.web.http_protocol:HeadTimeoutH11Protocol --timeout-keep-alive "$KEEP_ALIVE_TIMEOUT" \
    --no-server-header --no-proxy-headers --timeout-graceful-shutdown 10

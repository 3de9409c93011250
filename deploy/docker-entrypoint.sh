#!/bin/sh
# The image's entrypoint: the first argument names the role, so one image serves every Dagster process.
#
#   webserver     the Dagster UI and GraphQL API on 0.0.0.0:$DAGSTER_WEBSERVER_PORT (default 3000)
#   daemon        schedules, sensors, the run queue and run monitoring (run exactly one)
#   code-server   the factory's definitions over gRPC on 0.0.0.0:$DAGSTER_CODE_SERVER_PORT (default 4000);
#                 with Dagster's default run launcher the runs execute here, next to the warehouse
#   anything else runs as given (`factory demo`, `dagster api grpc ...` from the Helm chart, `bash`)
#
# Extra arguments after a role are passed on. Nothing is installed here: the image holds the locked
# environment (see Dockerfile), so a container starts what the tests ran.
set -eu

workspace="${DAGSTER_WORKSPACE:-/opt/dagster/app/workspace.yaml}"

case "${1:-}" in
    webserver)
        shift
        exec dagster-webserver -h 0.0.0.0 -p "${DAGSTER_WEBSERVER_PORT:-3000}" -w "$workspace" "$@"
        ;;
    daemon)
        shift
        exec dagster-daemon run -w "$workspace" "$@"
        ;;
    code-server)
        shift
        exec dagster code-server start -h 0.0.0.0 -p "${DAGSTER_CODE_SERVER_PORT:-4000}" \
            -m factory.definitions --location-name factory "$@"
        ;;
    "")
        echo "usage: <webserver|daemon|code-server|command ...>" >&2
        exit 64
        ;;
    *)
        exec "$@"
        ;;
esac

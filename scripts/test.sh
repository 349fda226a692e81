#!/usr/bin/env bash
# The test command of the README: prepares what the tests need (RabbitMQ on 127.0.0.1 with a TLS
# listener, the Python oslo.messaging peer's virtualenv), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-env.sh
cargo test --workspace "$@"

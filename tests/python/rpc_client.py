"""A real oslo.messaging RPC client for courier's interop tests.

    rpc_client.py --topic T [--url URL] [--exchange E]

Prints {"event": "ready"} once its transport is built, then reads one JSON command a line on
stdin and answers each with one JSON line on stdout:

    {"id": 1, "op": "call", "method": "echo", "args": {"payload": 1},
     "context": {"user": "alice"},                      # optional, a plain dict
     "server": "s1", "fanout": false, "namespace": "demo", "version": "2.3",
     "timeout": 5, "call_monitor_timeout": 2, "retry": 1}  # optional, as RPCClient.prepare()
    -> {"id": 1, "ok": true, "result": ..., "elapsed": 0.01}
    -> {"id": 1, "ok": false, "error": {"type": "RemoteError", "exc_type": ..., ...}, "elapsed": ...}

"op" is "call" or "cast" (a cast answers {"ok": true, "result": null} once the broker took
it). Commands run one at a time, in order. Exits when stdin closes.
"""

import json
import sys
import time

from oslo_config import cfg
import oslo_messaging

import peer_common

PREPARE_KEYS = (
    "server", "fanout", "namespace", "version", "timeout", "call_monitor_timeout", "exchange", "retry",
)


def run(client, command):
    prepared = client.prepare(**{k: command[k] for k in PREPARE_KEYS if k in command})
    ctxt = command.get("context", {})
    args = command.get("args", {})
    op = command["op"]
    if op == "call":
        return prepared.call(ctxt, command["method"], **args)
    if op == "cast":
        prepared.cast(ctxt, command["method"], **args)
        return None
    raise ValueError("unknown op %r" % op)


def main():
    parser = peer_common.arg_parser(__doc__)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    url = peer_common.setup(args)

    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=args.topic))
    peer_common.emit({"event": "ready", "topic": args.topic})
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        started = time.monotonic()
        try:
            result = run(client, command)
            answer = {"id": command.get("id"), "ok": True, "result": result}
        except Exception as exc:  # every failure is an answer the test asserts on
            answer = {"id": command.get("id"), "ok": False, "error": peer_common.describe_exception(exc)}
        answer["elapsed"] = time.monotonic() - started
        peer_common.emit(answer)
    transport.cleanup()


if __name__ == "__main__":
    main()

"""A real oslo.messaging Notifier for courier's interop tests.

    notifier.py --topic T [--driver messagingv2|messaging] [--url URL] [--exchange E]

Prints {"event": "ready"} once its transport is built, then reads one JSON command a line on
stdin, sends one notification for each and answers {"id": ..., "ok": true} (or "ok": false
with the error):

    {"id": 1, "priority": "info", "publisher_id": "compute.host1",
     "event_type": "compute.instance.create.end", "payload": {...},
     "request_context": {"user_id": "u", ...}}   # oslo_context.RequestContext(**...), optional
    {"id": 2, ..., "context": {"user": "u"}}     # or a plain dict (oslo sends it as {})

Exits when stdin closes.
"""

import json
import sys

from oslo_config import cfg
from oslo_context import context as oslo_context
import oslo_messaging

import peer_common

PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


def send(notifier, command):
    priority = command["priority"]
    if priority not in PRIORITIES:
        raise ValueError("unknown priority %r" % priority)
    if "request_context" in command:
        ctxt = oslo_context.RequestContext(**command["request_context"])
    else:
        ctxt = command.get("context", {})
    prepared = notifier.prepare(publisher_id=command["publisher_id"])
    getattr(prepared, priority)(ctxt, command["event_type"], command["payload"])


def main():
    parser = peer_common.arg_parser(__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--driver", default="messagingv2", choices=("messagingv2", "messaging"))
    args = parser.parse_args()
    url = peer_common.setup(args)

    transport = oslo_messaging.get_notification_transport(cfg.CONF, url=url)
    notifier = oslo_messaging.Notifier(
        transport, publisher_id="courier-interop", driver=args.driver, topics=[args.topic], retry=3
    )
    peer_common.emit({"event": "ready", "topic": args.topic, "driver": args.driver})
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            send(notifier, command)
            answer = {"id": command.get("id"), "ok": True}
        except Exception as exc:  # every failure is an answer the test asserts on
            answer = {"id": command.get("id"), "ok": False, "error": peer_common.describe_exception(exc)}
        peer_common.emit(answer)
    transport.cleanup()


if __name__ == "__main__":
    main()

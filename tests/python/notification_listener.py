"""A real oslo.messaging NotificationListener for courier's interop tests.

    notification_listener.py --topic T [--pool P] [--url URL] [--exchange E]

Prints {"event": "ready"} once it consumes, then one line per notification:

    {"event": "notification", "priority": "info", "ctxt": {...}, "publisher_id": ...,
     "event_type": ..., "payload": ..., "metadata": {"message_id": ..., "timestamp": ...}}

Stops on SIGTERM, SIGINT or when stdin closes, printing {"event": "stopped"}.
"""

import threading

from oslo_config import cfg
import oslo_messaging

import peer_common

PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")


class Recorder(object):
    """Implements every priority, so the listener subscribes to all of them."""


def _recorder_method(priority):
    def handle(self, ctxt, publisher_id, event_type, payload, metadata):
        peer_common.emit(
            {
                "event": "notification",
                "priority": priority,
                "ctxt": ctxt,
                "publisher_id": publisher_id,
                "event_type": event_type,
                "payload": payload,
                "metadata": metadata,
            }
        )
        return oslo_messaging.NotificationResult.HANDLED

    return handle


for _priority in PRIORITIES:
    setattr(Recorder, _priority, _recorder_method(_priority))


def main():
    parser = peer_common.arg_parser(__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--pool")
    args = parser.parse_args()
    url = peer_common.setup(args)

    transport = oslo_messaging.get_notification_transport(cfg.CONF, url=url)
    listener = oslo_messaging.get_notification_listener(
        transport,
        [oslo_messaging.Target(topic=args.topic)],
        [Recorder()],
        executor="threading",
        pool=args.pool,
    )
    stop = threading.Event()
    peer_common.stop_on_signal_or_eof(stop)
    listener.start()
    peer_common.emit({"event": "ready", "topic": args.topic, "pool": args.pool})
    stop.wait()
    listener.stop()
    listener.wait()
    transport.cleanup()
    peer_common.emit({"event": "stopped"})


if __name__ == "__main__":
    main()

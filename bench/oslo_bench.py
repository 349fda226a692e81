"""Python oslo.messaging's side of courier's benchmark harness (run from the test venv).

    oslo_bench.py server --scenario S --url U --topic T [--expect N]
    oslo_bench.py client --scenario S --url U --topic T --size B --count N

Speaks the harness's protocol: a server prints "ready" once it consumes and, with --expect N,
{"last_ns": ...} when the N-th cast or notification was processed; a client prints one JSON
outcome line ({"completed", "secs", "start_ns", "p50_us", "p99_us", "rss_kib"}).
Scenarios: seq, out<N> (N threads calling), casts, notifications.
"""

import argparse
import json
import logging
import os
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging

WARMUP_CALLS = 20


def peak_rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


class Tally(object):
    def __init__(self, expect):
        self.expect = expect
        self.seen = 0
        self.lock = threading.Lock()

    def record(self):
        with self.lock:
            self.seen += 1
            if self.seen == self.expect:
                print(json.dumps({"last_ns": time.time_ns()}), flush=True)


class Echo(object):
    def __init__(self, tally):
        self.tally = tally

    def echo(self, ctxt, payload):
        return payload

    def consume(self, ctxt, payload):
        self.tally.record()


class Tap(object):
    def __init__(self, tally):
        self.tally = tally

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.tally.record()


def serve(args):
    tally = Tally(args.expect)
    if args.scenario == "notifications":
        transport = oslo_messaging.get_notification_transport(cfg.CONF, url=args.url)
        targets = [oslo_messaging.Target(topic=args.topic)]
        server = oslo_messaging.get_notification_listener(transport, targets, [Tap(tally)], executor="threading")
    else:
        transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=args.url)
        target = oslo_messaging.Target(topic=args.topic, server="bench")
        server = oslo_messaging.get_rpc_server(transport, target, [Echo(tally)], executor="threading")
    server.start()
    print("ready", flush=True)
    # The harness ends this process when the measurement is over; when the harness started it,
    # stdin reaching end-of-file means the harness is gone (even if it was killed), so go too.
    if os.environ.get("COURIER_BENCH_CHILD"):
        sys.stdin.read()
        os._exit(0)
    while True:
        time.sleep(3600)


def percentile_us(sorted_latencies, fraction):
    if not sorted_latencies:
        return None
    return sorted_latencies[int(round((len(sorted_latencies) - 1) * fraction))] * 1e6


def drive(args):
    payload = "x" * args.size
    outcome = {"completed": args.count, "start_ns": 0, "secs": 0.0}
    if args.scenario == "notifications":
        transport = oslo_messaging.get_notification_transport(cfg.CONF, url=args.url)
        notifier = oslo_messaging.Notifier(transport, publisher_id="bench", driver="messagingv2", topics=[args.topic])
        outcome["start_ns"] = time.time_ns()
        for _ in range(args.count):
            notifier.info({}, "bench.event", {"payload": payload})
    else:
        transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=args.url)
        client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic=args.topic), timeout=120)
        if args.scenario == "casts":
            outcome["start_ns"] = time.time_ns()
            for _ in range(args.count):
                client.cast({}, "consume", payload=payload)
        else:
            callers = 1 if args.scenario == "seq" else int(args.scenario[len("out"):])
            for _ in range(WARMUP_CALLS):
                client.call({}, "echo", payload=payload)
            remaining = [args.count]
            lock = threading.Lock()
            latencies = []

            def caller():
                while True:
                    with lock:
                        if remaining[0] == 0:
                            return
                        remaining[0] -= 1
                    sent = time.perf_counter()
                    result = client.call({}, "echo", payload=payload)
                    assert len(result) == len(payload)
                    with lock:
                        latencies.append(time.perf_counter() - sent)

            outcome["start_ns"] = time.time_ns()
            started = time.perf_counter()
            threads = [threading.Thread(target=caller) for _ in range(callers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            outcome["secs"] = time.perf_counter() - started
            latencies.sort()
            outcome["completed"] = len(latencies)
            outcome["p50_us"] = percentile_us(latencies, 0.5)
            outcome["p99_us"] = percentile_us(latencies, 0.99)
    outcome["rss_kib"] = peak_rss_kib()
    print(json.dumps(outcome), flush=True)
    transport.cleanup()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cfg.CONF([], project="courier-bench")
    if args.role == "server":
        serve(args)
    else:
        drive(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The ordinary implementation bins-ingest-bench compares the aggregator with.

A consumer as a careful Python author would write it with paho-mqtt and sqlite3: a persistent session
at QoS 1, messages collected by paho's network thread, committed in batches (up to 500 messages, or
what arrived within 5 ms) in one transaction each, and acknowledged only after the commit (paho's
manual_ack), so it keeps the same no-loss guarantee as the aggregator. Each event is parsed, checked
against its topic, deduplicated by (device, seq) and added to a ledger row per device, bin, day and
stream.

    ingest-baseline.py --port P --client-id ID --db FILE --register-only
    ingest-baseline.py --port P --client-id ID --db FILE --expect N

With --expect it prints one line, `baseline: events=N seconds=S`, the time from the connection to the
commit of the N-th distinct event.
"""

import argparse
import json
import queue
import sqlite3
import sys
import threading
import time

import paho.mqtt.client as mqtt

BATCH_MESSAGES = 500
BATCH_SECONDS = 0.005


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS events (device TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL,"
        " PRIMARY KEY (device, seq))")
    db.execute(
        "CREATE TABLE IF NOT EXISTS ledger (device TEXT NOT NULL, bin TEXT NOT NULL, day TEXT NOT NULL,"
        " stream TEXT NOT NULL, deposited_kg REAL NOT NULL DEFAULT 0, collected_kg REAL NOT NULL DEFAULT 0,"
        " deposits INTEGER NOT NULL DEFAULT 0, collections INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (device, bin, day, stream))")
    return db


def book(db, topic, payload):
    """Returns 1 if the event was booked, 0 for a duplicate or a refused message."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "bins" or parts[3] != "events":
        return 0
    try:
        event = json.loads(payload)
        device, seq, ts = event["device"], int(event["seq"]), event["ts"]
        if device != parts[2] or seq < 1:
            return 0
    except (ValueError, KeyError, TypeError):
        return 0
    cursor = db.execute(
        "INSERT INTO events (device, seq, payload) VALUES (?, ?, ?) ON CONFLICT (device, seq) DO NOTHING",
        (device, seq, payload.decode("utf-8", "replace")))
    if cursor.rowcount != 1:
        return 0
    kind = event.get("type")
    if kind in ("deposit", "collection"):
        column, count = ("deposited_kg", "deposits") if kind == "deposit" else ("collected_kg", "collections")
        db.execute(
            f"INSERT INTO ledger (device, bin, day, stream, {column}, {count}) VALUES (?, ?, ?, ?, ?, 1)"
            f" ON CONFLICT (device, bin, day, stream) DO UPDATE SET {column} = {column} + excluded.{column},"
            f" {count} = {count} + 1",
            (device, event["bin"], ts[:10], event["stream"], float(event["mass_kg"])))
    return 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--register-only", action="store_true")
    args = parser.parse_args()

    arrived = queue.Queue()
    subscribed = threading.Event()
    connected_at = []

    def on_connect(client, userdata, flags, reason_code, properties):
        connected_at.append(time.monotonic())
        client.subscribe("bins/v1/+/events", qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        subscribed.set()

    def on_message(client, userdata, message):
        arrived.put((message.topic, message.payload, message.mid))

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, clean_session=False, manual_ack=True)
    client.max_inflight_messages_set(1000)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    if not subscribed.wait(20):
        print("baseline: not subscribed within 20 s", file=sys.stderr)
        return 1
    if args.register_only:
        client.disconnect()
        client.loop_stop()
        return 0

    db = open_db(args.db)
    booked = 0
    while booked < args.expect:
        batch = [arrived.get()]
        deadline = time.monotonic() + BATCH_SECONDS
        while len(batch) < BATCH_MESSAGES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(arrived.get(timeout=remaining))
            except queue.Empty:
                break
        db.execute("BEGIN")
        for topic, payload, _ in batch:
            booked += book(db, topic, payload)
        db.execute("COMMIT")
        for _, _, mid in batch:
            client.ack(mid, 1)
    seconds = time.monotonic() - connected_at[0]
    print(f"baseline: events={booked} seconds={seconds:.3f}", flush=True)
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

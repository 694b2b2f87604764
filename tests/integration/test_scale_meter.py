"""The scale study's byte meter on a known transfer (127.0.76.x): real nftables counters
on the lab's addresses count what was sent, plus the IP and TCP headers, and the table is
gone afterwards."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from harness.cluster.lab.meter import ByteMeter

pytestmark = pytest.mark.integration

LAB_NET = "127.0.76"
PAYLOAD = 1_000_000


def test_the_byte_meter_counts_a_known_transfer() -> None:
    meter = ByteMeter(LAB_NET, ports={"cluster": 4000, "redis": 6379})
    received: list[int] = []
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((f"{LAB_NET}.11", 4000))
        server.listen()

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                total = 0
                while chunk := conn.recv(65536):
                    total += len(chunk)
                conn.sendall(b"ok")
            received.append(total)

        thread = threading.Thread(target=serve)
        thread.start()
        meter.before_load()
        try:
            meter.start(0.0)
            with socket.create_connection((f"{LAB_NET}.11", 4000), timeout=5) as client:
                client.sendall(b"x" * PAYLOAD)
                client.shutdown(socket.SHUT_WR)
                assert client.recv(16) == b"ok"
            thread.join(timeout=10)
        finally:
            meter.stop()
    assert received == [PAYLOAD]
    counted = meter.figures()["bytes"]
    # Every payload byte, plus each packet's IP and TCP headers both ways: the data
    # segments' and the ACKs'. How many packets a megabyte takes depends on how the two
    # cores schedule sender and receiver (1.0% over in one run, 6.7% in another), so the
    # bound is 10%: a direction missed or counted twice is still far outside it.
    assert PAYLOAD < counted["cluster"] < PAYLOAD * 1.10, counted
    assert counted["redis"] == 0
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    assert meter.table not in tables.stdout

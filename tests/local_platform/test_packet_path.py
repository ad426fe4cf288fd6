"""Packet-level middlepipes end to end: a real controller and aggregator, an agent in the
app's container queueing the bound service's traffic through NFQUEUE, and real TCP
between two network-namespace containers. What the accounting counts is compared with
what the service received; an attack string split over segments is found; a drop rule
cuts the connection; unbinding removes the rules."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_stack import LocalPlatform, wait_for  # noqa: E402

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_peer.py")
CHAIN = "MP-Q4242"


@pytest.fixture
def platform():
    with LocalPlatform() as platform:
        yield platform


def rules(namespace):
    """The agent's iptables rules in the container (none when its chain does not exist)."""
    listed = subprocess.run(["ip", "netns", "exec", namespace, "iptables", "-w", "-S"],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    return [line for line in listed.splitlines() if CHAIN in line]


def send(platform, namespace, sink, *chunks, bulk=0, timeout=10):
    out = platform.in_container(namespace, "python3", PEER, "send", sink["address"], "9000",
                                "--bulk", str(bulk), "--timeout", str(timeout), *chunks)
    return json.loads(out)


def test_accounting_and_ids_on_real_tcp_and_rules_follow_the_bindings(platform):
    platform.run("local", "push", "sink", "--port", "9000", "--", "python3", PEER, "sink", "9000")
    sink = platform.app("sink")["instances"][0]
    platform.run("local", "push", "web", "--", "/bin/sleep", "1000000")
    web_namespace = platform.app("web")["instances"][0]["namespace"]

    platform.run("create-middlepipe", "accounting", "meter")
    platform.run("create-middlepipe", "ids", "guard", "-c", json.dumps({"rules": [
        'alert tcp any any -> any 9000 (msg:"shell in a request"; content:"/bin/sh"; nocase; sid:1001;)',
    ]}))
    platform.run("bind-middlepipe", "meter", "web", "sink")
    platform.run("bind-middlepipe", "guard", "web", "sink")
    wait_for(lambda: len(rules(web_namespace)) >= 4, 20, "the NFQUEUE rules")
    assert any("--queue-bypass" in rule for rule in rules(web_namespace))

    # The attack string in three segments: "/B" "In/s" "H".
    first = send(platform, web_namespace, sink, "GET /run?cmd=/B", "In/s", "H HTTP/1.0\r\n\r\n",
                 bulk=200000)
    second = send(platform, web_namespace, sink, "harmless", bulk=50000)
    assert first["reply"] == "received %d" % first["sent"], first
    assert second["reply"] == "received %d" % second["sent"], second
    received = first["sent"] + second["sent"]
    answers = len(first["reply"]) + 1 + len(second["reply"]) + 1

    meter = wait_for(lambda: (lambda live: live if live.get("packets", {}).get("bytes_out") == str(received)
                              else None)(platform.live("meter")), 20,
                     "the accounted bytes to reach %d" % received)
    packets = meter["packets"]
    assert packets["bytes_in"] == str(answers)
    assert packets["connections_started"] == "2"
    wait_for(lambda: len(platform.live("meter").get("recent_connections", [])) == 2, 20,
             "both connections reported")
    connections = platform.live("meter")["recent_connections"]
    assert sorted(int(c["bytes_out"]) for c in connections) == sorted([first["sent"], second["sent"]])

    guard = wait_for(lambda: platform.live("guard").get("recent_alerts"), 20, "the ids alert")
    assert len(guard) == 1
    assert guard[0]["sid"] == 1001
    assert guard[0]["action"] == "alert"
    assert guard[0]["destination"] == "%s:9000" % sink["address"]

    # Prevent mode with a drop rule: the connection is cut at the packet completing the match.
    platform.run("update-middlepipe", "guard", "-c", json.dumps({"mode": "prevent", "rules": [
        'drop tcp any any -> any 9000 (msg:"shell in a request"; content:"/bin/sh"; nocase; sid:1002;)',
    ]}))
    wait_for(lambda: "prevent" in json.dumps(platform.json("chain", "web", "sink")), 20, "prevent mode")
    blocked = send(platform, web_namespace, sink, "cmd=/bin", "/sh", bulk=100000, timeout=3)
    assert blocked["reply"] is None, blocked
    alerts = wait_for(lambda: [a for a in platform.live("guard").get("recent_alerts", [])
                               if a["sid"] == 1002], 20, "the drop alert")
    assert alerts[0]["action"] == "drop"
    # Other connections are not affected.
    fine = send(platform, web_namespace, sink, "harmless again")
    assert fine["reply"] == "received %d" % fine["sent"], fine

    # Unbinding removes the rules from the container.
    platform.run("unbind-middlepipe", "guard", "web", "sink")
    assert len(rules(web_namespace)) >= 4, "accounting still bound"
    platform.run("unbind-middlepipe", "meter", "web", "sink")
    wait_for(lambda: rules(web_namespace) == [], 20, "the rules gone")

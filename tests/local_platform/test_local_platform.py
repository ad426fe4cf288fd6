"""End-to-end tests of the local platform (`mp local ...`): real network namespaces, real
agents, controller and aggregator, the sample service and app; checked through the CLI's
--json output and what the app saw (its log)."""

import json
import os
import re

import pytest

from local_stack import CommandFailed, LocalPlatform, binary, wait_for

BREAKER = {"error_threshold_percent": 50, "min_requests": 6, "window_ms": 5000,
           "open_ms": 600000, "half_open_requests": 1}


@pytest.fixture
def platform():
    with LocalPlatform() as p:
        yield p


def calls(log):
    """The app's call outcomes, in order: "200", "500", "CircuitOpenError", ..."""
    outcomes = []
    for line in log.splitlines():
        m = re.match(r"\S+ (\d{3}) in |\S+ (CircuitOpenError|MiddlepipeError|transport error)", line)
        if m:
            outcomes.append(m.group(1) or m.group(2))
    return outcomes


def test_push_places_each_instance_in_its_own_container(platform):
    orders = platform.push_orders()
    assert orders["address"].startswith("198.18.")
    assert orders["namespace"] == platform.name + ".orders.0"
    platform.push_web(2, orders["address"])
    web = platform.app("web")
    addresses = {i["address"] for i in web["instances"]}
    assert len(addresses) == 2 and orders["address"] not in addresses
    for instance in web["instances"]:
        assert instance["app"]["state"] == "running"
        assert instance["agent"]["state"] == "running"
        assert instance["controller_view"]["state"] == "INSTANCE_STATE_READY"
        # The container's only link is eth0 with its address; the app reaches orders.
        links = platform.in_container(instance["namespace"], "ip", "-o", "-4", "addr")
        assert instance["address"] in links
    wait_for(lambda: "200" in calls(platform.app_log("web", 1)), 10, "web/1 reaching orders")
    # The controller knows the service app's port, so chains to it can send to it.
    apps = {a["name"]: a for a in platform.json("apps")["apps"]}
    assert apps["orders"]["instances"][0]["port"] == 8080
    # The host's own namespace is not touched: the fabric's addresses are not reachable here.
    assert "198.18." not in os.popen("ip -o -4 addr").read()


def test_bad_input_is_refused_and_leaves_nothing_behind(platform):
    orders = platform.push_orders()
    with pytest.raises(CommandFailed) as again:
        platform.push_orders()
    assert 'app "orders" is already pushed' in str(again.value)

    with pytest.raises(CommandFailed) as negative:
        platform.run("local", "scale", "orders", "-1")
    assert "instances: -1 is negative" in str(negative.value)

    with pytest.raises(CommandFailed) as exits:
        platform.run("local", "push", "broken", "--instances", "2", "--", "/bin/sh", "-c",
                     "echo no config file >&2; exit 3")
    assert "broken/0: the command exited at once with exit code 3" in str(exits.value)
    assert "no config file" in str(exits.value)

    with pytest.raises(CommandFailed) as missing:
        platform.run("local", "push", "typo", "--", "/nonexistent/server")
    assert "cannot run /nonexistent/server" in str(missing.value)

    with pytest.raises(CommandFailed) as unknown:
        platform.run("local", "scale", "nothing", "2")
    assert 'app "nothing" is not pushed' in str(unknown.value)

    assert sorted(platform.namespaces()) == sorted([platform.name + ".fabric",
                                                    orders["namespace"]])
    assert [a["name"] for a in platform.status()["apps"]] == ["orders"]


def test_a_dead_instance_is_reported_and_restarted(platform):
    orders = platform.push_orders()
    pid = orders["app"]["pid"]
    os.kill(pid, 9)
    restarted = wait_for(lambda: [i for i in [platform.app("orders")["instances"][0]]
                                  if i["app"]["restarts"] >= 1 and i["app"]["state"] == "running"],
                         15, "orders/0 restarted")[0]
    assert restarted["app"]["pid"] != pid
    assert restarted["app"]["last_exit"] == "signal 9"


def test_scale_up_clones_an_open_breaker(platform):
    orders = platform.push_orders()
    platform.push_web(2, orders["address"])
    platform.run("create-middlepipe", "circuit-breaker", "orders-breaker", "-c", json.dumps(BREAKER))
    platform.run("bind-middlepipe", "orders-breaker", "web", "orders")
    platform.control_orders(orders["namespace"], "fail?on=1")
    wait_for(lambda: platform.live("orders-breaker").get("state") == "open", 20, "breaker open")

    scaled = platform.json("local", "scale", "web", "3")
    assert scaled["started"] == 1
    new = scaled["app"]["instances"][2]
    assert new["controller_view"]["applied_epoch"] == scaled["app"]["epoch"]
    assert new["controller_view"]["aggregator_connected"]
    outcomes = wait_for(lambda: calls(platform.app_log("web", 2))[:5], 10, "web/2's first calls")
    # Its very first call already meets the cluster's open breaker: it never hits orders.
    assert outcomes[0] == "CircuitOpenError", outcomes
    assert "500" not in calls(platform.app_log("web", 2))


def test_scale_down_merges_state_so_no_count_is_lost(platform):
    orders = platform.push_orders()
    # Bound before web starts, so every call web makes goes through the monitor.
    platform.run("create-middlepipe", "monitor", "orders-monitor")
    platform.run("bind-middlepipe", "orders-monitor", "web", "orders")
    platform.push_web(3, orders["address"], interval_ms=20)
    wait_for(lambda: platform.live("orders-monitor").get("instances_reporting") == 3, 20,
             "3 instances reporting")

    stopped = platform.json("local", "scale", "web", "1")
    assert stopped["stopped"] == 2
    stopped = platform.json("local", "scale", "web", "0")
    assert stopped["stopped"] == 1
    # Every call orders received went through the monitor of some instance, and all of
    # them are in the aggregator after the instances went: counted before, merged after.
    received = json.loads(platform.in_container(orders["namespace"], "curl", "-sf",
                                                "http://127.0.0.1:8080/control/stats"))["calls"]
    assert received > 50
    total = platform.live("orders-monitor")["total"]
    completed = sum(int(n) for n in total["status_classes"])
    assert completed == received
    assert int(total["status_classes"][2]) == received


def test_down_after_a_crash_cleans_up_and_up_recovers(platform):
    orders = platform.push_orders()
    platform.push_web(2, orders["address"])
    status = platform.status()
    os.kill(status["pid"], 9)  # the platform itself

    # Up again: it cleans up what the dead one left and brings the same apps back.
    platform.up()
    after = platform.status()
    assert after["pid"] != status["pid"]
    assert [a["name"] for a in after["apps"]] == ["orders", "web"]
    assert [i["address"] for i in platform.app("web")["instances"]] == \
        [i["address"] for i in [a for a in status["apps"] if a["name"] == "web"][0]["instances"]]
    wait_for(lambda: "200" in calls(platform.app_log("web", 0)), 10, "web/0 reaching orders again")

    # Down after a crash cleans up too: no namespace and no process of it stays.
    pids = [i[k]["pid"] for a in platform.status()["apps"] for i in a["instances"]
            for k in ("app", "agent")]
    os.kill(platform.status()["pid"], 9)
    platform.down()
    assert platform.namespaces() == []
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z"
    assert platform.run("local", "status", check=False).returncode == 1


def test_a_killed_controller_is_restarted_and_agents_come_back(platform):
    orders = platform.push_orders()
    platform.push_web(2, orders["address"])
    platform.run("create-middlepipe", "circuit-breaker", "orders-breaker", "-c", json.dumps(BREAKER))
    platform.run("bind-middlepipe", "orders-breaker", "web", "orders")
    controller = platform.status()["controller_process"]
    os.kill(controller["pid"], 9)

    restarted = wait_for(lambda: (lambda c: c if c["state"] == "running" and c["restarts"] >= 1
                                  else None)(platform.status()["controller_process"]),
                         20, "the controller restarted")
    assert restarted["pid"] != controller["pid"]
    assert restarted["last_exit"] == "signal 9"
    # The agents reconnect to the new controller and run the stored chains again, and the
    # breaker still acts for the cluster.
    wait_for(lambda: all(i.get("controller_view", {}).get("state") == "INSTANCE_STATE_READY"
                         and int(i["controller_view"]["applied_epoch"]) == 1
                         for i in platform.app("web")["instances"]), 30, "web ready again")
    platform.control_orders(orders["namespace"], "fail?on=1")
    wait_for(lambda: platform.live("orders-breaker").get("state") == "open", 30,
             "the breaker open after the restart")


def test_scaling_a_service_app_rolls_its_endpoints_out_to_the_apps_calling_it(platform):
    orders = platform.push_orders()
    platform.run("create-middlepipe", "monitor", "orders-monitor")
    platform.run("bind-middlepipe", "orders-monitor", "web", "orders")
    platform.push_web(1, orders["address"])

    def endpoints():
        chain = platform.json("chain", "web", "orders")
        rollout = chain["rollout"]
        applied = rollout["instances_applied"] == rollout["instances_total"] == 1
        return sorted("%s:%s" % (e["host"], e["port"])
                      for e in chain["chain"].get("service_endpoints", [])) if applied else None

    assert endpoints() == [orders["address"] + ":8080"]
    scaled = platform.json("local", "scale", "orders", "2")
    second = scaled["app"]["instances"][1]["address"]
    wait_for(lambda: endpoints() == sorted([orders["address"] + ":8080", second + ":8080"]), 15,
             "web's chain with both orders instances")
    platform.run("local", "scale", "orders", "1")
    wait_for(lambda: endpoints() == [orders["address"] + ":8080"], 15,
             "web's chain with one orders instance again")

"""The demo's scenario (what tools/run shows), checked: the service orders and the app web
(3 instances) on the local platform, a circuit breaker and a monitor bound; orders slows
down, the breaker opens on all three instances at once, the app's callbacks fire and its
calls get CircuitOpenError without reaching orders; orders recovers and the breaker
closes. Meanwhile headless Chromium shows the dashboard, which must show the breaker open
and then closed (screenshots of both are kept with the test's outputs)."""

import json
import os
import re
import urllib.error
import urllib.request

import pytest

from local_stack import LocalPlatform, wait_for

BREAKER = {"latency_threshold_ms": 150, "error_threshold_percent": 50, "min_requests": 10,
           "window_ms": 3000, "open_ms": 2500, "half_open_requests": 2}
BINDING = "orders-breaker web orders"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def card_state(driver):
    # In one script: the page re-renders every second, so a found element can go stale
    # before it is read.
    return driver.execute_script(
        "const card = document.querySelector(arguments[0]);"
        "return card ? card.getAttribute('data-state') : null;",
        '.card[data-binding="%s"]' % BINDING)


def screenshot(driver, name):
    directory = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or os.environ.get("TEST_TMPDIR", "/tmp")
    path = os.path.join(directory, name)
    driver.save_screenshot(path)
    assert os.path.getsize(path) > 1000
    return path


def open_callbacks(platform, index):
    """Times (HH:MM:SS.mmm, as ms) of the app's open callbacks."""
    times = []
    for line in platform.app_log("web", index).splitlines():
        m = re.match(r"(\d+):(\d+):([\d.]+) callback circuit-breaker orders-breaker open", line)
        if m:
            times.append((int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))) * 1000)
    return times


def orders_calls(platform, namespace):
    return json.loads(platform.in_container(namespace, "curl", "-sf",
                                            "http://127.0.0.1:8080/control/stats"))["calls"]


def sign_in(driver, platform):
    """Signs in as a user does: the token typed into the form, never put in a URL."""
    from selenium.webdriver.common.by import By
    driver.get("http://127.0.0.1:%d/" % platform.http_port)
    field = wait_for(lambda: (lambda f: f if f and f[0].is_displayed() else None)(
        driver.find_elements(By.ID, "token")), 10, "the sign-in form")[0]
    field.send_keys(platform.token())
    driver.find_element(By.CSS_SELECTOR, "#signin button").click()
    wait_for(lambda: driver.execute_script("return document.cookie === ''") and
             "signed out" not in driver.find_element(By.ID, "connection").text, 10, "signed in")
    # The session cookie is HttpOnly (the page's script cannot read it), and the token is
    # nowhere in the page or its address.
    assert platform.token() not in driver.current_url
    assert platform.token() not in driver.page_source


def test_the_dashboard_refuses_requests_without_a_session():
    with LocalPlatform() as platform:
        base = "http://127.0.0.1:%d" % platform.http_port
        for path in ("/dashboard/state", "/dashboard/events",
                     "/dashboard/state?token=" + platform.token()):
            try:
                urllib.request.urlopen(base + path, timeout=10)
                raise AssertionError(path + " answered without a session")
            except urllib.error.HTTPError as refused:
                assert refused.code == 401, (path, refused.code)


def test_the_demo_scenario_in_the_terminal_and_the_dashboard():
    with LocalPlatform() as platform:
        orders = platform.push_orders()
        platform.push_web(3, orders["address"], interval_ms=100)
        platform.run("create-middlepipe", "circuit-breaker", "orders-breaker", "-c",
                     json.dumps(BREAKER))
        platform.run("create-middlepipe", "monitor", "orders-monitor")
        platform.run("bind-middlepipe", "orders-breaker", "web", "orders")
        platform.run("bind-middlepipe", "orders-monitor", "web", "orders")

        driver = browser()
        try:
            sign_in(driver, platform)
            wait_for(lambda: card_state(driver) == "closed", 30, "the dashboard showing closed")
            assert "orders-monitor" in driver.page_source

            platform.control_orders(orders["namespace"], "delay?ms=300")
            live = wait_for(lambda: (lambda l: l if l.get("state") == "open" else None)(
                platform.live("orders-breaker")), 30, "the breaker open")
            assert live["instances_reporting"] == 3
            wait_for(lambda: card_state(driver) == "open", 10, "the dashboard showing open")
            screenshot(driver, "dashboard-open.png")

            # All three instances got the decision, within one call interval of each other.
            firsts = wait_for(lambda: (lambda t: t if all(t) else None)(
                [open_callbacks(platform, i)[:1] for i in range(3)]), 5, "open callbacks on all")
            firsts = [t[0] for t in firsts]
            assert max(firsts) - min(firsts) < 1000, firsts
            # While open, calls get CircuitOpenError and orders receives (almost) none: a
            # trial call may go through once open_ms has passed.
            before = orders_calls(platform, orders["namespace"])
            wait_for(lambda: all("CircuitOpenError" in platform.app_log("web", i) for i in range(3)),
                     5, "CircuitOpenError in every instance")
            assert orders_calls(platform, orders["namespace"]) - before <= 2 * 3

            platform.control_orders(orders["namespace"], "delay?ms=0")
            wait_for(lambda: platform.live("orders-breaker").get("state") == "closed", 30,
                     "the breaker closed")
            wait_for(lambda: card_state(driver) == "closed", 10, "the dashboard showing closed")
            screenshot(driver, "dashboard-closed.png")
            for i in range(3):
                wait_for(lambda: "orders-breaker closed" in platform.app_log("web", i), 10,
                         "web/%d's closed callback" % i)
        finally:
            driver.quit()

"""A local platform for one test: `mp local up` in a scratch directory, with a platform
name and HTTP port of its own (so tests can run side by side), and `mp local down` at the
end whatever happens. Commands go through the real `mp` binary with --json, the way a
user's scripts would drive it."""

import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

BIN = os.environ.get("MP_BIN_DIR", os.getcwd())


def binary(path):
    return os.path.join(BIN, path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CommandFailed(Exception):
    def __init__(self, args, result):
        super().__init__("mp %s: exit %d: %s" % (" ".join(args), result.returncode,
                                                 result.stderr.strip()))
        self.result = result


class LocalPlatform:
    def __init__(self):
        # Unix socket paths must stay short: a directory right under /tmp.
        self.directory = tempfile.mkdtemp(prefix="mpt", dir="/tmp")
        self.name = "t%06d" % random.randrange(10**6)
        self.http_port = free_port()
        home = os.environ.get("TEST_TMPDIR") or self.directory
        self.env = dict(os.environ, MP_BIN_DIR=BIN, MP_LOCAL_DIR=self.directory,
                        MP_CONFIG=os.path.join(home, self.name + ".conf"))
        self.env.pop("MP_CONTROLLER", None)
        self.env.pop("MP_TOKEN", None)

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, *args, check=True, timeout=300):
        result = subprocess.run([binary("cli/mp"), *args], env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise CommandFailed(args, result)
        return result

    def json(self, *args):
        return json.loads(self.run("--json", *args).stdout)

    def up(self):
        return self.json("local", "up", "--name", self.name, "--http-listen",
                         "127.0.0.1:%d" % self.http_port)

    def down(self):
        return self.run("local", "down", check=False)

    def status(self):
        return self.json("local", "status")

    def app(self, name):
        for app in self.status()["apps"]:
            if app["name"] == name:
                return app
        raise KeyError(name)

    def token(self):
        with open(os.path.join(self.directory, "data", "admin-token")) as f:
            return f.read().strip()

    def push_orders(self):
        self.run("local", "push", "orders", "--port", "8080", "--",
                 binary("platform/examples/sample-service"), "--listen", "0.0.0.0:8080")
        return self.app("orders")["instances"][0]

    def push_web(self, instances, orders_address, interval_ms=50):
        self.run("local", "push", "web", "--instances", str(instances), "--",
                 binary("platform/examples/sample-app"), "--service", "orders", "--host",
                 orders_address, "--port", "8080", "--interval-ms", str(interval_ms))

    def in_container(self, namespace, *command):
        return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True,
                              text=True, check=True, timeout=30).stdout

    def control_orders(self, namespace, what):
        self.in_container(namespace, "curl", "-sf", "-X", "POST", "-d", "",
                          "http://127.0.0.1:8080/control/" + what)

    def live(self, middlepipe):
        live = self.json("middlepipe", middlepipe).get("live", [])
        return live[0] if live else {}

    def app_log(self, app, index):
        with open(os.path.join(self.directory, "apps", app, str(index), "app.log")) as f:
            return f.read()

    def namespaces(self):
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout
        return [line.split()[0] for line in listed.splitlines()
                if line.startswith(self.name + ".")]


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))

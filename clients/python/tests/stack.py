"""A real stack for end-to-end tests and the latency benchmark: mp-controller, one
mp-agent for app "web", the sample service registered as "orders", driven with `mp`.
Binaries come from $MP_BIN_DIR (Bazel's runfiles when run by the project's test
command), else from the checkout's bazel-bin."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from typing import List, Optional

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BINARIES = {
    "controller": "controller/mp-controller",
    "agent": "filter-agent/mp-agent",
    "mp": "cli/mp",
    "service": "platform/examples/sample-service",
}


def binary(name: str) -> str:
    base = os.environ.get("MP_BIN_DIR") or os.path.join(REPO, "bazel-bin")
    return os.path.join(base, BINARIES[name])


def binaries_present() -> bool:
    return all(os.access(binary(name), os.X_OK) for name in BINARIES)


class Stack:
    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="mp-py-e2e-", dir="/tmp")  # short: Unix socket paths
        self.socket = os.path.join(self.directory, "agent.sock")
        self._processes: List[subprocess.Popen] = []
        self._logs: List[str] = []
        controller_socket = os.path.join(self.directory, "controller.sock")
        self.controller_target = "unix://" + controller_socket
        self._start("controller", [binary("controller"), "--data-dir", os.path.join(self.directory, "data"),
                                   "--grpc-listen", self.controller_target, "--http-listen", "127.0.0.1:0"],
                    "grpc listening on")
        with open(os.path.join(self.directory, "data", "admin-token")) as f:
            self.token = f.read().strip()
        token_file = os.path.join(self.directory, "token")
        with open(token_file, "w") as f:
            f.write(self.token)
        os.chmod(token_file, 0o600)
        line = self._start("service", [binary("service"), "--listen", "127.0.0.1:0"], "listening on")
        self.service_port = int(re.search(r":(\d+)\s*$", line).group(1))
        self._start("agent", [binary("agent"), "--controller", self.controller_target, "--app", "web",
                              "--token-file", token_file, "--socket", self.socket], "running epoch 0")
        self.mp("register-service", "orders", f"127.0.0.1:{self.service_port}")

    def start_service(self, name: str) -> int:
        """Another sample service, registered as `name`; its port."""
        line = self._start(name, [binary("service"), "--listen", "127.0.0.1:0"], "listening on")
        port = int(re.search(r":(\d+)\s*$", line).group(1))
        self.mp("register-service", name, f"127.0.0.1:{port}")
        return port

    def _start(self, name: str, argv: List[str], ready: str, timeout: float = 30) -> str:
        log = os.path.join(self.directory, f"{name}.log")
        self._logs.append(log)
        with open(log, "w") as out:
            self._processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out,
                                                    cwd=self.directory))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(log) as f:
                for line in f:
                    if ready in line:
                        return line
            if self._processes[-1].poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{name} did not start: {open(log).read()}")

    def mp(self, *args: str) -> str:
        environment = dict(os.environ, MP_CONTROLLER=self.controller_target, MP_TOKEN=self.token)
        done = subprocess.run([binary("mp"), *args], capture_output=True, text=True, env=environment)
        if done.returncode != 0:
            raise RuntimeError(f"mp {' '.join(args)}: {done.stderr}")
        return done.stdout

    def service_url(self, path: str = "/orders") -> str:
        return f"http://127.0.0.1:{self.service_port}{path}"

    def set_failing(self, failing: bool) -> None:
        import requests
        requests.post(self.service_url(f"/control/fail?on={1 if failing else 0}"), data="", timeout=5)

    def service_calls(self, port: Optional[int] = None) -> int:
        import requests
        url = f"http://127.0.0.1:{port or self.service_port}/control/stats"
        return requests.get(url, timeout=5).json()["calls"]

    def log(self, name: str) -> str:
        with open(os.path.join(self.directory, f"{name}.log")) as f:
            return f.read()

    def close(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def stack_or_skip() -> Optional[Stack]:
    """A running stack; when the binaries are absent, a failure if the project's test
    command runs the tests ($MP_BIN_DIR set), else None (the caller skips)."""
    if not binaries_present():
        if os.environ.get("MP_BIN_DIR"):
            raise RuntimeError(f"binaries missing under {os.environ['MP_BIN_DIR']}")
        return None
    return Stack()

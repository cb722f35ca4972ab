"""HTTP load for the benchmarks: wrk with random bodies, servers started and awaited, process memory."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.report import ROOT

LUA = """
local bodies = {%s}
local auths = {%s}
local path = "%s"
request = function()
  local i = math.random(#bodies)
  local headers = {["Content-Type"] = "application/json"}
  if auths[i] ~= "" then headers["Authorization"] = auths[i] end
  return wrk.format("POST", path, headers, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "errors": %%d, "p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def wrk(port: int, path: str, bodies: list[str], auths: list[str], clients: int, duration: int) -> dict[str, float]:
    script = LUA % (", ".join(map(_lua_string, bodies)), ", ".join(map(_lua_string, auths)), path)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{duration}s", "-s", handle.name, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(handle.name)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return dict(result)


def post(port: int, path: str, body: str, auth: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def wait_ready(port: int, path: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # the server answered
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server on port {port} did not become ready")


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)


def rss_pid(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(server: subprocess.Popen[bytes]) -> float:
    """Resident memory of the API process (uvicorn runs in it: one worker)."""
    return rss_pid(server.pid)


def median(measured: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds (errors: their sum)."""
    return {
        key: sum(m[key] for m in measured) if key == "errors" else statistics.median(m[key] for m in measured)
        for key in measured[0]
    }

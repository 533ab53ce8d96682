from __future__ import annotations

import shutil
import signal
import subprocess
import sys

from tests.support.processes import port_open
from tests.support.waiting import wait_until

_PARENT = """
import sys
from adapter.dev.redis import RedisServerProcess
server = RedisServerProcess(sys.argv[1])
print(server.url.rsplit(":", 1)[1].split("/")[0], flush=True)
sys.stdin.read()
"""


def test_embedded_redis_server_dies_with_a_killed_dev_process() -> None:
    binary = shutil.which("redis-server")
    assert binary is not None
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, binary],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    port = int(parent.stdout.readline())
    assert port_open(port)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    wait_until(lambda: not port_open(port), timeout=10, message="redis-server to exit")

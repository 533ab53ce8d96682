from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.support.waiting import wait_until
from workers.ratelimit import Admission, RateLimiter, Refusal, key_id

API_KEY = "cg_limiter_test_key"


def limiter(connection: redis.Redis, **options: float) -> RateLimiter:
    settings: dict[str, float] = {"per_minute": 120, "max_in_flight": 5, "lease_seconds": 30.0}
    settings.update(options)
    return RateLimiter(
        connection,
        API_KEY,
        per_minute=int(settings["per_minute"]),
        max_in_flight=int(settings["max_in_flight"]),
        lease_seconds=settings["lease_seconds"],
        window_seconds=settings.get("window_seconds", 60.0),
    )


@pytest.mark.slow
def test_never_more_than_n_admits_in_any_window_across_clients(redis_url: str) -> None:
    per_window, window = 5, 1.0
    admits: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 2.5

    def client() -> None:
        connection = redis.Redis.from_url(redis_url, decode_responses=True)
        mine = limiter(connection, per_minute=per_window, max_in_flight=50, window_seconds=window)
        while time.monotonic() < stop:
            answer = mine.try_acquire()
            if isinstance(answer, Admission):
                with lock:
                    admits.append(answer.at)
                mine.release(answer)
            else:
                time.sleep(min(answer.wait, 0.01))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    admits.sort()
    assert len(admits) >= 2 * per_window  # the window did slide
    for first in admits:
        in_window = [t for t in admits if first <= t < first + window]
        assert len(in_window) <= per_window


def test_a_full_window_says_when_the_oldest_admit_leaves(connection: redis.Redis) -> None:
    mine = limiter(connection, per_minute=2, window_seconds=1.0)
    for _ in range(2):
        answer = mine.try_acquire()
        assert isinstance(answer, Admission)
        mine.release(answer)
    refusal = mine.try_acquire()
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "window"
    assert 0 < refusal.wait <= 1.0


def test_in_flight_requests_are_capped(connection: redis.Redis) -> None:
    mine = limiter(connection, max_in_flight=2)
    first, second = mine.try_acquire(), mine.try_acquire()
    assert isinstance(first, Admission)
    assert isinstance(second, Admission)
    refusal = mine.try_acquire()
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "flight"
    mine.release(first)
    assert isinstance(mine.try_acquire(), Admission)


def test_a_dead_workers_slot_frees_itself_when_its_lease_ends(connection: redis.Redis) -> None:
    mine = limiter(connection, max_in_flight=1, lease_seconds=0.3)
    assert isinstance(mine.try_acquire(), Admission)  # never released: its worker died
    assert isinstance(mine.try_acquire(), Refusal)
    wait_until(lambda: isinstance(mine.try_acquire(), Admission), timeout=5)


def test_a_renewed_slot_outlives_its_lease_while_its_request_is_in_flight(
    connection: redis.Redis,
) -> None:
    mine = limiter(connection, max_in_flight=1, lease_seconds=2.0)
    held = mine.try_acquire()
    assert isinstance(held, Admission)
    renewed_until = time.monotonic() + 3.0
    while time.monotonic() < renewed_until:  # the keeper, a quarter lease apart
        assert mine.renew(held)
        assert isinstance(mine.try_acquire(), Refusal)
        time.sleep(0.25)
    mine.release(held)
    assert not mine.renew(held)
    assert isinstance(mine.try_acquire(), Admission)


def test_a_request_never_sent_gives_its_admit_back(connection: redis.Redis) -> None:
    mine = limiter(connection, per_minute=1)
    answer = mine.try_acquire()
    assert isinstance(answer, Admission)
    mine.release(answer, sent=False)
    assert isinstance(mine.try_acquire(), Admission)


def test_a_429_pauses_the_key_for_every_worker(redis_url: str, connection: redis.Redis) -> None:
    other_connection = redis.Redis.from_url(redis_url, decode_responses=True)
    mine, theirs = limiter(connection), limiter(other_connection)
    mine.pause(1.0)
    refusal = theirs.try_acquire()
    assert isinstance(refusal, Refusal)
    assert refusal.reason == "pause"
    assert 0 < refusal.wait <= 1.0
    wait_until(lambda: isinstance(theirs.try_acquire(), Admission), timeout=5)
    other_connection.close()


def test_a_shorter_pause_does_not_cut_a_longer_one(connection: redis.Redis) -> None:
    mine = limiter(connection)
    mine.pause(5.0)
    mine.pause(0.5)
    assert mine.paused_for() > 4.0


def test_redis_keys_name_a_hash_of_the_api_key(connection: redis.Redis) -> None:
    mine = limiter(connection)
    answer = mine.try_acquire()
    assert isinstance(answer, Admission)
    keys = connection.keys("*")
    assert keys
    assert all(API_KEY not in k and key_id(API_KEY) in k for k in keys)


def test_acquire_blocks_until_a_slot_frees(connection: redis.Redis) -> None:
    mine = limiter(connection, max_in_flight=1)
    held = mine.acquire(timeout=1)
    threading.Timer(0.2, mine.release, args=(held,)).start()
    assert isinstance(mine.acquire(timeout=5), Admission)


def test_peeking_at_the_window_takes_nothing(connection: redis.Redis) -> None:
    mine = limiter(connection, per_minute=1, window_seconds=1.0)
    assert mine.next_admit_in() == 0
    answer = mine.try_acquire()
    assert isinstance(answer, Admission)
    mine.release(answer)
    assert 0 < mine.next_admit_in() <= 1.0
    assert mine.next_admit_in() > 0  # still full: peeking admitted nothing

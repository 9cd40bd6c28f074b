"""The reporter's batches (farm.reporter): what it queues while a POST is under way leaves in
posts the intake reads result by result, never over the intake's body limit."""

from __future__ import annotations

import json
import time
from collections import deque
from datetime import UTC, datetime

from farm.reporter import encode_batch, signed, take_batch
from tests.ci.world import result
from triage.ci.intake import Checked, IntakeRules, check

SECRET = b"batch-secret"


def queued(n: int) -> deque[bytes]:
    return deque(json.dumps(result(f"hello-l{i}-kvm-x86_64", "build-failed", "r1", i + 1,
                                   sig="0123456789abcdef", title="e").to_json(),
                            sort_keys=True).encode() for i in range(n))


def test_batches_respect_count_and_size_and_keep_every_result():
    pending = queued(23)
    everything = list(pending)
    limit = len(encode_batch(everything[:5]))  # exactly the first five results' post
    posts = []
    while pending:
        posts.append(take_batch(pending, 10, limit))
    assert len(posts[0]) == 5
    assert all(1 <= len(p) <= 10 and len(encode_batch(p)) <= limit for p in posts)
    assert [item for p in posts for item in p] == everything  # nothing lost, order kept
    posts_by_count = []
    pending = queued(23)
    while pending:
        posts_by_count.append(take_batch(pending, 10, 65536))
    assert [len(p) for p in posts_by_count] == [10, 10, 3]
    # A single result is sent as itself (what an older intake reads too).
    assert encode_batch(posts_by_count[-1][:1]) == posts_by_count[-1][0]


def test_the_intake_reads_the_reporters_batches():
    rules = IntakeRules(SECRET, 65536, 300)
    pending = queued(12)
    ids: list[int] = []
    while pending:
        data = encode_batch(take_batch(pending, 5, 65536))
        checked = check(rules, signed(SECRET, data, time.time()), data, datetime.now(UTC))
        assert isinstance(checked, Checked), checked
        ids += [r.build_id for r in checked.results]
    assert ids == list(range(1, 13))

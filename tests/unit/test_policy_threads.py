"""Many request threads deciding at once (issue 15's worker threads): Casbin parses its
matcher with `ast.parse`, which Python 3.11 cannot run in two threads at once without a
spurious SystemError (CPython gh-106905); a 500 on a summary before the fix."""

from __future__ import annotations

import threading

from portal.disclosure.policy import OwnerPolicy, default_lines


def test_eight_threads_deciding_first_answers_at_once_never_fail():
    failures: list[BaseException] = []

    def decide(number: int) -> None:
        policy = OwnerPolicy(default_lines())
        try:
            for request in range(800):  # a new owner each time: every answer is parsed
                policy.decide(f"owner-{number}-{request}", "system", "advocate", "medical", "x")
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

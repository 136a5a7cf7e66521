"""Playing the demo's stories in time order, with the engine's clock moved to each step's moment."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator

from engine import clock

Story = Iterator[dt.datetime]


def play(stories: list[Story]) -> None:
    """Run the stories' steps in time order, with the engine clock at each step's moment.

    A story is a generator that yields the moment of its next step and then does it; steps of
    different stories interleave, so every case sees time move forward only.
    """
    queue: list[tuple[dt.datetime, int, Story]] = []
    for index, story in enumerate(stories):
        moment = next(story, None)
        if moment is not None:
            queue.append((moment, index, story))
    heapq.heapify(queue)
    if not queue:
        return
    frozen = clock.FrozenClock(queue[0][0])
    clock.set_clock(frozen)
    try:
        while queue:
            moment, index, story = heapq.heappop(queue)
            frozen.set(moment)
            following = next(story, None)
            if following is not None:
                heapq.heappush(queue, (max(following, moment), index, story))
    finally:
        clock.set_clock(None)

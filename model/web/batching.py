"""Micro-batching: sentences of concurrent requests scored in one model call.

A model call has a fixed cost (array set-up, padding, a forward pass) that a
request of a few sentences pays almost in full. The batcher waits a few
milliseconds for other requests, then scores all their sentences together
in one background thread, so the event loop never runs the model and
concurrent clients share each call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

Predict = Callable[[list], list[dict[str, float]]]
"""Items in (sentences, or whatever the model call takes per sentence) → one probability row per item."""


class MicroBatcher:
    """``await batcher.predict(texts)`` from any number of coroutines; one model call at a time.

    The first waiting request opens a batch; requests arriving within
    ``max_wait`` seconds join it until it holds ``max_sentences``. While a
    batch runs, new requests queue up and form the next one.
    """

    def __init__(self, predict: Predict, *, max_wait: float = 0.005, max_sentences: int = 512):
        if max_wait < 0 or max_sentences < 1:
            raise ValueError("max_wait must be >= 0 and max_sentences >= 1")
        self._predict = predict
        self.max_wait = max_wait
        self.max_sentences = max_sentences
        self._executor: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.calls = 0
        """Model calls made so far (for tests and the benchmark)."""

    def _ensure_running(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nuchter-model")
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._run(), name="nuchter-batcher")
        return self._queue

    async def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        queue = self._ensure_running()
        future = asyncio.get_running_loop().create_future()
        await queue.put((list(texts), future))
        return await future

    async def _collect(self, queue: asyncio.Queue) -> list[tuple[list[str], asyncio.Future]]:
        batch = [await queue.get()]
        size = len(batch[0][0])
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while size < self.max_sentences:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except asyncio.TimeoutError:
                    break
            batch.append(item)
            size += len(item[0])
        return batch

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(queue)
            live = [(texts, future) for texts, future in batch if not future.done()]  # cancelled: client left
            if not live:
                continue
            texts = [t for item, _ in live for t in item]
            try:
                probabilities = await loop.run_in_executor(self._executor, self._predict, texts)
                self.calls += 1
            except Exception as error:  # the model failed: every waiting request learns it
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            begin = 0
            for item, future in live:
                if not future.done():
                    future.set_result(probabilities[begin : begin + len(item)])
                begin += len(item)

    async def close(self) -> None:
        if self._task is not None and self._loop is asyncio.get_running_loop():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

"""A Streamlit session without a browser: the app's websocket protocol, as the frontend speaks it.

What the frontend does and this client repeats: open `/_stcore/stream` (subprotocol "streamlit"), ask for
a script run, echo the page hash and query string the server sets, and, for each fragment the server
marks `auto_rerun`, ask for a rerun of that fragment every `interval` seconds whether or not a run is in
progress (the server folds pending requests into one). A button click is a rerun whose widget states
carry the button's trigger. Other widgets are not sent: keyed widgets keep their values server-side.
It renders nothing, so many of them load the server as many students would, at little client CPU.
"""
from __future__ import annotations

import asyncio
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


class WireSession:
    def __init__(self, ws, metric_label: str = "Epoch"):
        self.ws, self.metric_label = ws, metric_label
        self.page_hash, self.query = "", ""
        self.buttons: dict[str, str] = {}              # label -> widget id, from the latest deltas
        self.metric_updates: list[tuple[float, int]] = []  # (ms, value) whenever the metric changed
        self.redraws = 0                                # metric deltas received: one per page or fragment run
        self._seen = asyncio.Event()                    # set whenever a button arrives
        self._timers: dict[str, asyncio.Task] = {}

    @classmethod
    async def open(cls, url: str, query: str = "", cookie: str | None = None) -> "WireSession":
        """A session on the app at `url`, opened as from an address with `query` (e.g. "join=ABC&name=x"),
        sending `cookie` (a proxy routes a browser by its cookie: deploy/nginx.conf.template)."""
        ws = await websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream",
                                      subprotocols=["streamlit"], max_size=None, open_timeout=30,
                                      additional_headers={"Cookie": cookie} if cookie else None)
        session = cls(ws)
        session.query = query
        await session.rerun()
        return session

    async def rerun(self, trigger: str | None = None, fragment_id: str | None = None) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_script_hash = self.query, self.page_hash
        if fragment_id:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
        if trigger:
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = trigger, True
        await self.ws.send(msg.SerializeToString())

    async def listen(self) -> None:
        """Handle server messages until the connection closes."""
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for task in self._timers.values():
                task.cancel()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element)
        elif kind == "auto_rerun":
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid in self._timers:
                self._timers.pop(fid).cancel()
            self._timers[fid] = asyncio.create_task(self._auto_rerun(fid, interval))
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                if fid in self._timers:
                    self._timers.pop(fid).cancel()

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "button":
            self.buttons[element.button.label] = element.button.id
            self._seen.set()
        elif kind == "metric" and element.metric.label == self.metric_label:
            self.redraws += 1
            value = int("".join(ch for ch in element.metric.body if ch.isdigit()) or -1)
            if not self.metric_updates or self.metric_updates[-1][1] != value:
                self.metric_updates.append((time.perf_counter() * 1000, value))

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.rerun(fragment_id=fragment_id)

    async def wait_button(self, label: str, timeout: float) -> None:
        async def seen() -> None:
            while label not in self.buttons:
                self._seen.clear()
                await self._seen.wait()
        await asyncio.wait_for(seen(), timeout)

    async def click(self, label: str, expect: str, timeout: float) -> float:
        """Click the button `label`; seconds until the server sends the button `expect` (the page reran)."""
        button = self.buttons[label]
        self.buttons.clear()
        t0 = time.perf_counter()
        await self.rerun(trigger=button)
        await self.wait_button(expect, timeout)
        return time.perf_counter() - t0

    async def close(self) -> None:
        await self.ws.close()

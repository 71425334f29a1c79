"""``alertflow bench --smtp``: AlertFlow's email delivery as a ratio of raw SMTP, in one run.

A local aiosmtpd sink runs in its own process (so it does not share the event loop or the
GIL with what it measures) and reports every arrival on its stdout. Two phases, against it:

1. the ceiling: aiosmtplib clients, ``connections`` of them each reusing its connection,
   send ``messages`` straight to the sink;
2. AlertFlow: the embedded server, with ``[providers.email] type = "smtp"`` pointing at the
   sink, is published ``messages`` emails (``concurrency`` clients, closed loop); delivery
   rate is messages over first publish → last arrival, latency is publish → arrival.

The ratio of the two rates is the figure that compares across machines. The sink needs
aiosmtpd (the ``bench`` extra, which ``make serve`` installs).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .bench import PUBLISH, START_SECONDS, Target, embedded_server, p50_p99, pct, report

SENDER = "bench@alertflow.test"
READY = "ready"
# How long the last messages may take to arrive after the last publish or send was accepted,
# before the run reports them missing: a ceiling for a broken run, not a measurement.
ARRIVAL_CEILING_SECONDS = 120.0


def _recipient(phase: str, i: int) -> str:
    return f"{phase}-{i}@example.com"


class Sink:
    """The sink process and the arrivals it reports: recipient → arrival time (time.time())."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.arrivals: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls) -> Sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "alertflow.ops.bench_smtp", stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        async with asyncio.timeout(START_SECONDS):
            first = (await proc.stdout.readline()).decode().split()
        if first[:1] != [READY]:
            raise RuntimeError("the SMTP sink did not start (is aiosmtpd installed? pip install 'alertflow[bench]')")
        return cls(proc, int(first[1]))

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            at, _, recipient = line.decode().rstrip("\n").partition(" ")
            self.arrivals[recipient] = float(at)
            self._changed.set()

    async def until_arrived(self, recipients: Iterable[str], ceiling: float) -> None:
        wanted = set(recipients)
        try:
            async with asyncio.timeout(ceiling):
                while not wanted <= self.arrivals.keys():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass  # the caller counts what is missing

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        self._reader.cancel()


def _raw_message(i: int) -> bytes:
    """About what the smtp provider sends for the publish bench's body (body_for)."""
    return (
        f"From: {SENDER}\r\nTo: {_recipient('raw', i)}\r\nSubject: Bench {i}\r\n"
        f"Message-ID: <raw-{i}@alertflow.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nYour disk is 95% full.\r\n"
    ).encode()


async def raw_ceiling(sink: Sink, messages: int, connections: int) -> float:
    """Messages/s straight from aiosmtplib to the sink over ``connections`` reused connections."""
    import aiosmtplib

    counter = iter(range(messages))

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
        await smtp.connect()
        try:
            for i in counter:
                await smtp.sendmail(SENDER, [_recipient("raw", i)], _raw_message(i))
        finally:
            await smtp.quit()

    started = time.time()
    await asyncio.gather(*(client() for _ in range(connections)))
    await sink.until_arrived((_recipient("raw", i) for i in range(messages)), ARRIVAL_CEILING_SECONDS)
    return messages / (time.time() - started)


@dataclass
class Delivery:
    published: dict[str, float] = field(default_factory=dict)
    errors: int = 0


async def publish_emails(target: Target, phase: str, messages: int, concurrency: int) -> Delivery:
    """Publish one email to each of ``messages`` recipients, ``concurrency`` clients at once."""
    run = Delivery()
    counter = iter(range(messages))
    headers = {"Authorization": f"Bearer {target.api_key}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def client() -> None:
            for i in counter:
                recipient = _recipient(phase, i)
                body = {
                    "to": {"email": recipient},
                    "content": {"email": {"subject": f"Bench {i}", "text": "Your disk is 95% full."}},
                }
                at = time.time()
                async with http.post(target.url + PUBLISH, json=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 202:
                        run.published[recipient] = at
                    else:
                        run.errors += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return run


def _config(sink: Sink, connections: int) -> str:
    """The embedded server's config: email through the sink (the operator's own provider, so
    127.0.0.1 is allowed), with as many email workers as the ceiling run's connections."""
    return (
        f"[workers]\nemail = {connections}\n\n"
        f'[providers.email]\ntype = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\n'
        f'security = "none"\nfrom_address = "{SENDER}"\n'
    )


async def smtp_bench(workdir: Path, messages: int, connections: int, concurrency: int) -> dict[str, Any]:
    results: dict[str, Any] = {"smtp_messages": messages, "smtp_connections": connections}
    sink = await Sink.start()
    try:
        raw = await raw_ceiling(sink, messages, connections)
        config_file = workdir / "alertflow.toml"
        config_file.write_text(_config(sink, connections))
        target = await embedded_server(workdir, config_file)
        try:
            await publish_emails(target, "warm", min(200, messages), concurrency)  # connections, caches
            run = await publish_emails(target, "af", messages, concurrency)
            await sink.until_arrived(run.published, ARRIVAL_CEILING_SECONDS + messages / 100)
        finally:
            target.stop()
    finally:
        await sink.stop()
    arrived = {r: sink.arrivals[r] for r in run.published if r in sink.arrivals}
    latencies = [arrived[r] - run.published[r] for r in arrived]
    span = max(arrived.values(), default=0.0) - min(run.published.values(), default=0.0)
    delivered = len(arrived) / span if span > 0 else 0.0
    results.update(
        smtp_raw_per_s=raw,
        smtp_alertflow_per_s=delivered,
        smtp_ratio=delivered / raw if raw else 0.0,
        smtp_arrival_p50_ms=pct(latencies, 50) * 1000,
        smtp_arrival_p99_ms=pct(latencies, 99) * 1000,
        smtp_arrived=len(arrived),
        smtp_missing=messages - len(arrived),
        smtp_publish_errors=run.errors,
    )
    report(
        f"SMTP: {messages} messages to a local aiosmtpd sink (its own process), {connections} connections",
        [
            ("raw aiosmtplib → sink, messages/s", f"{raw:.0f}"),
            ("AlertFlow publish → arrival/s", f"{delivered:.0f}"),
            ("AlertFlow / raw", f"{results['smtp_ratio']:.2f}"),
            ("publish → arrival p50 / p99", p50_p99(latencies)),
            ("arrived / missing", f"{len(arrived)} / {results['smtp_missing']}"),
            ("publish errors", str(run.errors)),
        ],
    )
    return results


def serve_sink() -> None:
    """The sink's process: accept every message, print ``<time.time()> <recipient>`` for each."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            at = time.time()
            sys.stdout.write("".join(f"{at} {r}\n" for r in envelope.rcpt_tos))
            sys.stdout.flush()
            return "250 2.0.0 accepted"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), hostname="sink.alertflow.test", loop=loop), "127.0.0.1", 0
        )
        print(READY, server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":  # the sink's process
    serve_sink()

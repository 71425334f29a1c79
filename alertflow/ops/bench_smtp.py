"""``alertflow bench --smtp``: AlertFlow's email delivery as a ratio of raw SMTP, in one run.

A local aiosmtpd sink runs in its own process (so it does not share the event loop or the
GIL with what it measures) and reports every arrival on its stdout. Each phase mails
recipients of its own (``address(phase, i)``) and the sink counts arrivals per recipient,
so each phase is checked for exactly once: none missing, none twice. Four phases, against it:

1. the ceiling: aiosmtplib clients, ``connections`` of them each reusing its connection,
   send ``messages`` straight to the sink. It runs again after the other phases, and the
   higher of the two runs is the ceiling: a raw run the machine disturbed (one ran at 820/s
   between runs of 2,229 and 2,295/s) would otherwise pass for the ceiling, and make every
   ratio look better than it is;
2. closed loop: the embedded server, with ``[providers.email] type = "smtp"`` pointing at the
   sink and ``connections`` email workers, is published ``messages`` emails (``concurrency``
   clients); delivery rate is messages over first publish → last arrival, latency is
   publish → arrival. On a small machine the Python clients share the cores with the server,
   so this rate is the load generator, publishing and delivery together;
3. open loop: the same server is published one email per request at ``rate``/s for
   ``seconds`` (bench.open_loop), whatever its answers do: publish → arrival p50/p99, and
   the backlog (accepted, not yet arrived) about each second and when the last publish was
   answered, and how long the last arrival came after that. Issue 19: at 1,000/s offered,
   p99 ≤ 100 ms and no growing backlog;
4. delivery from a backlog (``drain`` emails, 0 skips): as ``bench --drain``
   (bench_drain.from_backlog), queued with the email workers paused, then delivered to the
   sink by a second server on the same data with nothing publishing beside it; the rate is
   arrivals from the first to the last, so neither the load generator nor the start-up is
   in it. Issue 19: sustained delivery ≥ 0.6 of the ceiling.

The ratios to the ceiling are the figures that compare across machines. The sink needs
aiosmtpd (the ``bench`` extra, which ``make serve`` installs).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .bench import PUBLISH, START_SECONDS, Run, Target, address, embedded_server, open_loop, p50_p99, pct, report
from .bench_drain import from_backlog

SENDER = "bench@alertflow.test"
READY = "ready"
# How long the last messages may take to arrive after the last publish or send was accepted,
# before the run reports them missing: a ceiling for a broken run, not a measurement.
ARRIVAL_CEILING_SECONDS = 120.0


class Sink:
    """The sink process and the arrivals it reports: recipient → first arrival time
    (time.time()), and arrivals per recipient."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.arrivals: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        self._markers = itertools.count()
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
            self.arrivals.setdefault(recipient, float(at))
            self.counts[recipient] += 1
            self._changed.set()

    async def settle(self) -> None:
        """Read every arrival the sink has reported so far: it reports in order, so once a
        marker mailed now is read, all before it are (a stopping server's last sends too)."""
        import aiosmtplib

        marker = address("marker", next(self._markers))
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, start_tls=False) as smtp:
            await smtp.sendmail(SENDER, [marker], b"Subject: marker\r\n\r\nmarker\r\n")
        await self.until_arrived([marker], ARRIVAL_CEILING_SECONDS)

    def tally(self, recipients: Iterable[str]) -> tuple[int, int, int]:
        """(once, duplicates, missing) of ``recipients``: those that got exactly one message,
        the arrivals past each one's first, and those that got none."""
        counts = [self.counts[r] for r in recipients]
        return counts.count(1), sum(max(0, c - 1) for c in counts), counts.count(0)

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


def _raw_message(i: int, phase: str) -> bytes:
    """About what the smtp provider sends for the publish bench's body (body_for)."""
    return (
        f"From: {SENDER}\r\nTo: {address(phase, i)}\r\nSubject: Bench {i}\r\n"
        f"Message-ID: <{phase}-{i}@alertflow.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nYour disk is 95% full.\r\n"
    ).encode()


async def raw_ceiling(sink: Sink, messages: int, connections: int, phase: str = "raw") -> float:
    """Messages/s straight from aiosmtplib to the sink over ``connections`` reused connections."""
    import aiosmtplib

    counter = iter(range(messages))

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False)
        await smtp.connect()
        try:
            for i in counter:
                await smtp.sendmail(SENDER, [address(phase, i)], _raw_message(i, phase))
        finally:
            await smtp.quit()

    started = time.time()
    await asyncio.gather(*(client() for _ in range(connections)))
    await sink.until_arrived((address(phase, i) for i in range(messages)), ARRIVAL_CEILING_SECONDS)
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
                recipient = address(phase, i)
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


def server_config(sink: Sink, connections: int) -> str:
    """The embedded server's config: email through the sink (the operator's own provider, so
    127.0.0.1 is allowed), with as many email workers as the ceiling run's connections."""
    return (
        f"[workers]\nemail = {connections}\n\n"
        f'[providers.email]\ntype = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\n'
        f'security = "none"\nfrom_address = "{SENDER}"\n'
    )


async def closed_phase(target: Target, sink: Sink, messages: int, concurrency: int) -> dict[str, Any]:
    """Phase 2: ``messages`` emails published by ``concurrency`` clients, closed loop."""
    await publish_emails(target, "warm", min(200, messages), concurrency)  # connections, caches
    run = await publish_emails(target, "af", messages, concurrency)
    await sink.until_arrived(run.published, ARRIVAL_CEILING_SECONDS + messages / 100)
    arrived = {r: sink.arrivals[r] for r in run.published if r in sink.arrivals}
    latencies = [arrived[r] - run.published[r] for r in arrived]
    span = max(arrived.values(), default=0.0) - min(run.published.values(), default=0.0)
    delivered = len(arrived) / span if span > 0 else 0.0
    results = {
        "smtp_alertflow_per_s": delivered,
        "smtp_arrival_p50_ms": pct(latencies, 50) * 1000,
        "smtp_arrival_p99_ms": pct(latencies, 99) * 1000,
        "smtp_arrived": len(arrived),
        "smtp_missing": messages - len(arrived),
        "smtp_publish_errors": run.errors,
    }
    report(
        f"SMTP closed loop: {messages} emails published by {concurrency} clients",
        [
            ("AlertFlow publish → arrival/s", f"{delivered:.0f}"),
            ("publish → arrival p50 / p99", p50_p99(latencies)),
            ("arrived / missing", f"{len(arrived)} / {results['smtp_missing']}"),
            ("publish errors", str(run.errors)),
        ],
    )
    return results


async def open_phase(target: Target, sink: Sink, rate: float, seconds: float) -> dict[str, Any]:
    """Phase 3: one email per request at ``rate``/s for ``seconds``, open loop."""
    samples: list[int] = []

    def behind(run: Run) -> int:
        """Publishes accepted so far whose email has not arrived: the backlog."""
        return sum(1 for i in run.published_at if address("open", i) not in sink.arrivals)

    async def sample(run: Run) -> None:
        samples.append(behind(run))

    run = await open_loop(target, rate, seconds, sample, phase="open")
    answered, at_end = time.time(), behind(run)
    published = {address("open", i): at for i, at in run.published_at.items()}
    await sink.until_arrived(published, ARRIVAL_CEILING_SECONDS + len(published) / 100)
    arrived = {r: sink.arrivals[r] for r in published if r in sink.arrivals}
    latencies = [arrived[r] - published[r] for r in arrived]
    drain = max(0.0, max(arrived.values(), default=answered) - answered)
    await sink.settle()
    once, duplicates, missing = sink.tally(published)
    results = {
        "smtp_open_rate": rate,
        "smtp_open_seconds": seconds,
        "smtp_open_published": len(published),
        "smtp_open_errors": run.errors,
        "smtp_open_publish_p99_ms": pct(run.latencies, 99) * 1000,
        "smtp_open_arrival_p50_ms": pct(latencies, 50) * 1000,
        "smtp_open_arrival_p99_ms": pct(latencies, 99) * 1000,
        "smtp_open_backlog_samples": samples,
        "smtp_open_backlog_at_end": at_end,
        "smtp_open_backlog_max": max([*samples, at_end]),
        "smtp_open_drain_s": drain,
        "smtp_open_arrived_once": once,
        "smtp_open_duplicates": duplicates,
        "smtp_open_missing": missing,
    }
    report(
        f"SMTP open loop: {rate:.0f}/s offered for {seconds:.0f} s, one email per publish",
        [
            ("publish latency p50 / p99", p50_p99(run.latencies)),
            ("publish → arrival p50 / p99", p50_p99(latencies)),
            ("not arrived, about each second", " ".join(map(str, samples))),
            ("not arrived at the last answer", str(at_end)),
            ("last arrival after the last answer", f"{drain:.2f} s"),
            ("published", str(len(published))),
            ("once / duplicates / missing", f"{once} / {duplicates} / {missing}"),
            ("publish errors", str(run.errors)),
        ],
    )
    return results


async def drain_phase(workdir: Path, config_file: Path, sink: Sink, total: int) -> dict[str, Any]:
    """Phase 4: ``total`` emails delivered to the sink from a backlog, on a data dir of its own."""
    wanted = [address("drain", i) for i in range(total)]
    async with from_backlog(workdir, total, config_file, workdir / "drain-data", phase="drain") as queue:
        await sink.until_arrived(wanted, ARRIVAL_CEILING_SECONDS + total / 100)
    await sink.settle()  # counted once the server has stopped: a send repeated at its shutdown shows
    arrived = sorted(sink.arrivals[r] for r in wanted if r in sink.arrivals)
    span = arrived[-1] - arrived[0] if arrived else 0.0
    delivered = (len(arrived) - 1) / span if span > 0 else float("nan")
    once, duplicates, missing = sink.tally(wanted)
    results = {
        "smtp_drain_messages": total,
        "smtp_drain_queued_before": queue.queued,
        "smtp_drain_per_s": delivered,
        "smtp_drain_seconds": span,
        "smtp_drain_arrived_once": once,
        "smtp_drain_duplicates": duplicates,
        "smtp_drain_missing": missing,
    }
    report(
        f"SMTP from a backlog: {total} emails queued with the email workers paused, then delivered",
        [
            ("queued when the workers started", str(queue.queued)),
            ("arrived/s (first to last arrival)", f"{delivered:.0f}"),
            ("once / duplicates / missing", f"{once} / {duplicates} / {missing}"),
        ],
    )
    return results


async def smtp_bench(
    workdir: Path, messages: int, connections: int, concurrency: int, rate: float, seconds: float, drain: int
) -> dict[str, Any]:
    """The phases against one sink, the ceiling first and last; ``drain`` 0 skips the backlog."""
    results: dict[str, Any] = {"smtp_messages": messages, "smtp_connections": connections}
    sink = await Sink.start()
    try:
        first = await raw_ceiling(sink, messages, connections)
        report(
            f"SMTP ceiling: {messages} messages to a local aiosmtpd sink (its own process), {connections} connections",
            [("raw aiosmtplib → sink, messages/s", f"{first:.0f}")],
        )
        config_file = workdir / "alertflow.toml"
        config_file.write_text(server_config(sink, connections))
        target = await embedded_server(workdir, config_file)
        try:
            results.update(await closed_phase(target, sink, messages, concurrency))
            results.update(await open_phase(target, sink, rate, seconds))
        finally:
            target.stop()
        if drain:
            results.update(await drain_phase(workdir, config_file, sink, drain))
        last = await raw_ceiling(sink, messages, connections, phase="raw2")
    finally:
        await sink.stop()
    results.update(ratios(results, [first, last]))
    return results


def ratios(results: dict[str, Any], raw_runs: list[float]) -> dict[str, Any]:
    """AlertFlow's rates as ratios of the ceiling, the higher of the raw runs; reported."""
    raw = max(raw_runs)
    found: dict[str, Any] = {"smtp_raw_runs": raw_runs, "smtp_raw_per_s": raw}
    lines = [("raw runs, first / last, messages/s", " / ".join(f"{r:.0f}" for r in raw_runs))]
    found["smtp_ratio"] = results["smtp_alertflow_per_s"] / raw if raw else 0.0
    lines.append(("AlertFlow / raw, closed loop", f"{found['smtp_ratio']:.2f}"))
    if "smtp_drain_per_s" in results:
        found["smtp_drain_ratio"] = results["smtp_drain_per_s"] / raw if raw else 0.0
        lines.append(("from a backlog / raw", f"{found['smtp_drain_ratio']:.2f}"))
    report("SMTP ratios to the ceiling, the higher of the two raw runs", lines)
    return found


def serve_sink() -> None:
    """The sink's process: accept every message, print ``<time.time()> <recipient>`` for each."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Handler:
        async def handle_EHLO(
            self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
        ) -> list[str]:
            # Offered as Postfix, SES and SendGrid offer it; aiosmtpd answers pipelined
            # commands in order, it only does not say so.
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

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

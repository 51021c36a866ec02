"""Group sessions: N participants in one Janus room (an SFU) against the same N in a full mesh.

For each N in BENCH_GROUP_SIZES (default 2,3,4,5,6,8,10,12):

- **SFU**: a group session with N invited patients is opened through the app's own code
  (`group_session_create`; each patient waits and the host admits everyone; then `group_join`
  for each patient: the app creates the Janus room,
  hands out the pin, the feed id and a signed token). Each participant then does what our
  room page does, with aiortc: over Janus's WebSocket with that token, publishes one video
  track (synthetic moving picture, 320x240 at 15 fps, VP8) with the feed it was given, and
  subscribes to the other N-1 (one handle each, naming its own `private_id`). Janus forwards
  N*(N-1) streams.
- **Mesh**: the same N, no server: one aiortc peer connection per pair and per end, each end
  encoding its participant's picture again for that peer (as browsers in a mesh do) and
  decoding the other's. Also N*(N-1) streams, but N*(N-1) encodes instead of N.

After every subscription has its first frame and BENCH_WARMUP seconds (default 3) pass, each
received stream's frame rate is measured over BENCH_SECONDS (default 8), with Janus's CPU (from
/proc/PID/stat, all its threads), the client processes' CPU (`process_time`, encoder and
decoder threads included) and the bytes received. Reported per N and topology: the lowest and
median frame rate of any subscriber, Janus's CPU in % of one core and per forwarded stream
(also net of Janus's idle CPU, measured first in the same run: the baseline), the clients' CPU
(total and per participant), the received bitrate per stream and what one participant sends
(one stream to Janus, N-1 in a mesh); then, per topology, the largest N whose every
subscriber received at least 10 fps (the source sends 15), Janus's CPU fitted over the SFU
runs into a cost per published and per forwarded stream, and the mesh's client CPU over the
SFU's at the same N (the SFU run is the baseline of that ratio). A topology
stops at its first failing N unless BENCH_GROUP_KEEP_GOING=1, and moves on once its share of
BENCH_GROUP_BUDGET seconds (default 240, halved between the two) has gone;
BENCH_GROUP_TOPOLOGIES=sfu (or mesh) runs one.

    python bench/bench_group.py
    BENCH_GROUP_SIZES=2,4,6 BENCH_SECONDS=5 BENCH_CLIENT_PROCESSES=2 python bench/bench_group.py

Needs Debian's `janus` (`make media`); started with bin/janus-run on free ports, as the tests
do. The database is SQLite in memory unless BENCH_DATABASE_URL is set. Clients run in
BENCH_CLIENT_PROCESSES processes (default: one per core), participants spread over them; in
the mesh both ends of a pair sit in one process.

What limits the figures. Every participant runs on this one machine, so the clients' work is
N times what one person's device does, and aiortc encodes and decodes VP8 through Python
(packetising, jitter buffer, a decoder thread per stream), far less efficiently than a
browser. On a 2-core machine the clients saturate long before Janus does: the largest N
found is the clients' limit here, not Janus's. The mesh does N*(N-1) encodes where the SFU
does N: its frame rates fall first, when encoders no longer get the CPU to keep up (the
synthetic camera then drops frames, as a browser's does), which on a shared machine also
depends on everyone else's load. Per participant, a real device does 1 encode and N-1 decodes
in the SFU, N-1 of each (and sends N-1 copies upstream) in a mesh; the per-participant CPU
figure is the total over N. Janus's per-stream CPU includes taking in the N published
streams, so it is highest at small N; it scales with packets, so compare it with the bitrate
shown (a Chromium camera sent about 470 kbit/s). Janus's ports limit the room to N*N peer
connections within its RTP range (200 ports here: N <= 14). On a shared machine other work's
load changes every figure: the load average is printed with them.

Prints readable lines, then one JSON line with the figures last."""

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

SIZES = [int(n) for n in os.environ.get("BENCH_GROUP_SIZES", "2,3,4,5,6,8,10,12").split(",")]
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "3"))
BUDGET = float(os.environ.get("BENCH_GROUP_BUDGET", "240"))
KEEP_GOING = os.environ.get("BENCH_GROUP_KEEP_GOING") == "1"
TOPOLOGIES = os.environ.get("BENCH_GROUP_TOPOLOGIES", "sfu,mesh").split(",")
PROCESSES = int(os.environ.get("BENCH_CLIENT_PROCESSES", str(os.cpu_count() or 2)))
WIDTH, HEIGHT, FPS = 320, 240, 15
ENOUGH_FPS = 10.0
READY_TIMEOUT = 60.0  # seconds for every stream's first frame, on a busy machine

# --- The client processes (aiortc only: no Django here) ------------------------------------


class MovingPicture:
    """A synthetic camera: a sliding gradient with a moving square, WIDTHxHEIGHT at FPS. A
    late reader gets the current frame (a camera drops frames; it never queues them)."""

    LOOP = 2 * FPS

    def __init__(self):
        ramp = bytes(range(256)) * 3
        square = bytes([235]) * 48
        self.frames: list[tuple[bytes, bytes]] = []
        for n in range(self.LOOP):
            left = (n * WIDTH // self.LOOP) % (WIDTH - 48)
            rows = []
            for y in range(HEIGHT):
                start = (y + 8 * n) % 256
                row = ramp[start : start + WIDTH]
                if 96 <= y < 144:
                    row = row[:left] + square + row[left + 48 :]
                rows.append(row)
            chroma = bytes([128 + n % 16]) * (WIDTH // 2 * HEIGHT // 2)
            self.frames.append((b"".join(rows), chroma))

    def track(self):
        import av
        from aiortc.mediastreams import MediaStreamTrack

        frames = self.frames

        class Camera(MediaStreamTrack):
            kind = "video"

            def __init__(self):
                super().__init__()
                self.started: float | None = None
                self.count = -1

            async def recv(self):
                now = time.monotonic()
                if self.started is None:
                    self.started = now
                due = self.count + 1
                wait = self.started + due / FPS - now
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    due = max(due, int((now - self.started) * FPS))
                self.count = due
                luma, chroma = frames[due % len(frames)]
                frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
                for plane, data in zip(frame.planes, (luma, chroma, chroma), strict=True):
                    plane.update(data)
                frame.pts = due * (90000 // FPS)
                frame.time_base = Fraction(1, 90000)
                return frame

        return Camera()


class Reception:
    """One received stream: its frames are counted as they are decoded."""

    def __init__(self, pc, label: str):
        self.pc = pc
        self.label = label
        self.frames = 0
        self.first: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None

    def consume(self, track) -> None:
        async def count():
            from aiortc.mediastreams import MediaStreamError

            try:
                while True:
                    await track.recv()
                    self.frames += 1
                    if not self.first.done():
                        self.first.set_result(True)
            except MediaStreamError:
                pass

        self.task = asyncio.ensure_future(count())

    async def received_bytes(self) -> int:
        stats = await self.pc.getStats()
        # The transport's count (aiortc's inbound-rtp has none): RTP and RTCP received.
        return sum(s.bytesReceived for s in stats.values() if s.type == "transport")


def new_pc():
    from aiortc import RTCConfiguration, RTCPeerConnection

    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class Client:
    """One process's share of the participants, driven by commands over a pipe."""

    def __init__(self):
        self.picture = MovingPicture()
        self.reset()

    def reset(self) -> None:
        self.receptions: list[Reception] = []
        self.pcs: list = []
        self.sockets: list = []
        self.tasks: list[asyncio.Task] = []
        self.private_ids: dict[int, int] = {}  # feed -> its publisher's private_id
        self.socket_of: dict[int, Any] = {}  # feed -> its participant's Janus socket

    # SFU

    async def publish(self, passes: list[dict]) -> dict:
        await asyncio.gather(*(self._publish_one(p) for p in passes))
        return {"published": len(passes)}

    async def _publish_one(self, room_pass: dict) -> None:
        from aiortc import RTCSessionDescription

        from tests.visits.janus_peer import JanusSocket, plugin_data

        socket = await JanusSocket.open(room_pass["ws_url"], room_pass["token"])
        self.sockets.append(socket)
        await socket.create_session()
        self.tasks.append(asyncio.ensure_future(keepalive(socket)))
        handle = await socket.attach()
        joined = await socket.message(
            handle,
            {
                "request": "join",
                "ptype": "publisher",
                "room": room_pass["room"],
                "pin": room_pass["pin"],
                "id": room_pass["feed"],
                "display": room_pass["display"],
            },
        )
        data = plugin_data(joined)
        assert data.get("videoroom") == "joined", joined
        pc = new_pc()
        self.pcs.append(pc)
        pc.addTrack(self.picture.track())
        await pc.setLocalDescription(await pc.createOffer())
        configured = await socket.message(
            handle,
            {"request": "configure", "video": True},
            {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False},
        )
        assert plugin_data(configured).get("configured") == "ok", configured
        answer = configured["jsep"]
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await socket.wait_for(
            lambda m: m.get("janus") == "webrtcup" and m.get("sender") == handle, timeout=30
        )
        self.private_ids[room_pass["feed"]] = data["private_id"]
        self.socket_of[room_pass["feed"]] = socket

    async def subscribe(self, passes: list[dict], feeds: list[int]) -> dict:
        jobs = [self._subscribe_one(p, feed) for p in passes for feed in feeds if feed != p["feed"]]
        await asyncio.gather(*jobs)
        return await self.wait_first_frames()

    async def _subscribe_one(self, room_pass: dict, feed: int) -> None:
        from aiortc import RTCSessionDescription

        from tests.visits.janus_peer import plugin_data

        socket = self.socket_of[room_pass["feed"]]
        handle = await socket.attach()
        attached = await socket.message(
            handle,
            {
                "request": "join",
                "ptype": "subscriber",
                "room": room_pass["room"],
                "pin": room_pass["pin"],
                "private_id": self.private_ids[room_pass["feed"]],
                "streams": [{"feed": feed}],
            },
        )
        assert plugin_data(attached).get("videoroom") == "attached", attached
        pc = new_pc()
        self.pcs.append(pc)
        reception = Reception(pc, f"{room_pass['feed']}<-{feed}")
        self.receptions.append(reception)
        pc.on("track", reception.consume)
        offer = attached["jsep"]
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        started = await socket.message(
            handle, {"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp}
        )
        assert plugin_data(started).get("started") == "ok", started

    # Mesh

    async def mesh(self, pairs: list[list[int]]) -> dict:
        from aiortc.contrib.media import MediaRelay

        relay = MediaRelay()
        cameras: dict[int, Any] = {}

        def camera_of(participant: int):
            if participant not in cameras:
                cameras[participant] = self.picture.track()
            return relay.subscribe(cameras[participant], buffered=False)

        async def connect(a: int, b: int) -> None:
            offerer, answerer = new_pc(), new_pc()
            self.pcs += [offerer, answerer]
            for pc, me, other in ((offerer, a, b), (answerer, b, a)):
                reception = Reception(pc, f"{me}<-{other}")
                self.receptions.append(reception)
                pc.on("track", reception.consume)
                pc.addTrack(camera_of(me))
            await offerer.setLocalDescription(await offerer.createOffer())
            await answerer.setRemoteDescription(offerer.localDescription)
            await answerer.setLocalDescription(await answerer.createAnswer())
            await offerer.setRemoteDescription(answerer.localDescription)

        await asyncio.gather(*(connect(a, b) for a, b in pairs))
        return await self.wait_first_frames()

    # Both

    async def wait_first_frames(self) -> dict:
        firsts = [r.first for r in self.receptions]
        if firsts:
            await asyncio.wait(firsts, timeout=READY_TIMEOUT)
        started = sum(f.done() for f in firsts)
        return {"streams": len(firsts), "without_frames": len(firsts) - started}

    async def measure(self, seconds: float) -> dict:
        # Frame counts and clocks are read together (no await between them); the bytes,
        # which need a getStats() per stream, over a window of their own.
        octets, octets_began = [await r.received_bytes() for r in self.receptions], time.monotonic()
        counts, cpu, began = (
            [r.frames for r in self.receptions],
            time.process_time(),
            time.monotonic(),
        )
        await asyncio.sleep(seconds)
        counts_after, cpu_after, ended = (
            [r.frames for r in self.receptions],
            time.process_time(),
            time.monotonic(),
        )
        octets_after = [await r.received_bytes() for r in self.receptions]
        octets_elapsed = time.monotonic() - octets_began
        return {
            "fps": [(a - b) / (ended - began) for a, b in zip(counts_after, counts, strict=True)],
            "kbit_s": [
                (a - b) * 8 / octets_elapsed / 1000
                for a, b in zip(octets_after, octets, strict=True)
            ],
            "cpu_s": cpu_after - cpu,
            "elapsed_s": ended - began,
        }

    async def close(self) -> dict:
        for task in self.tasks:
            task.cancel()
        for reception in self.receptions:
            if reception.task is not None:
                reception.task.cancel()
        await asyncio.gather(*(pc.close() for pc in self.pcs), return_exceptions=True)
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)
        self.reset()
        return {"closed": True}


async def keepalive(socket) -> None:
    while True:
        await asyncio.sleep(20)
        await socket.send({"janus": "keepalive"}, final=("ack", "error"))


def client_process(conn, root: str) -> None:
    """A client process: runs commands from the pipe, answers each with a dict (or an
    {"error": ...})."""
    sys.path.insert(0, root)
    logging.basicConfig(level=logging.ERROR)

    async def serve():
        client = Client()
        while True:
            command = await asyncio.to_thread(conn.recv)
            op = command.pop("op")
            if op == "exit":
                await client.close()
                return
            try:
                answer = await getattr(client, op)(**command)
            except Exception as error:  # reported to the parent, which stops the run
                answer = {"error": f"{op}: {error!r}"}
            conn.send(answer)

    asyncio.run(serve())


# --- The parent: Django, Janus, and the measurement -----------------------------------------


class Clients:
    def __init__(self, count: int, root: Path):
        context = multiprocessing.get_context("spawn")
        self.pipes, self.processes = [], []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=client_process, args=(child, str(root)))
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, commands: list[dict | None], timeout: float = 180) -> list[dict]:
        """Send each process its command (None: nothing for it), then wait for the answers."""
        asked = [(pipe, c) for pipe, c in zip(self.pipes, commands, strict=True) if c]
        for pipe, command in asked:
            pipe.send(command)
        answers = []
        for pipe, command in asked:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a client process did not answer {command['op']} in time")
            answer = pipe.recv()
            if "error" in answer:
                raise RuntimeError(answer["error"])
            answers.append(answer)
        return answers

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send({"op": "exit"})
        for process in self.processes:
            process.join(timeout=15)
            if process.is_alive():
                process.terminate()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(clients: Clients, janus_pid: int) -> dict:
    """Every client process measures SECONDS at once; Janus's CPU over the same window."""
    for pipe in clients.pipes:
        pipe.send({"op": "measure", "seconds": SECONDS})
    janus_before, began = cpu_seconds(janus_pid), time.monotonic()
    answers = []
    for pipe in clients.pipes:
        if not pipe.poll(SECONDS + 60):
            raise RuntimeError("a client process did not answer measure in time")
        answer = pipe.recv()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        answers.append(answer)
    janus_cpu = cpu_seconds(janus_pid) - janus_before
    elapsed = time.monotonic() - began
    return {
        "fps": [f for a in answers for f in a["fps"]],
        "kbit_s": [k for a in answers for k in a["kbit_s"]],
        "client_cpu_s": [a["cpu_s"] for a in answers],
        "client_elapsed_s": max(a["elapsed_s"] for a in answers),
        "janus_cpu_s": janus_cpu,
        "janus_elapsed_s": elapsed,
    }


def figures_of(n: int, topology: str, ready: list[dict], measured: dict, idle_pct: float) -> dict:
    streams = n * (n - 1)
    fps = measured["fps"] + [0.0] * max(0, streams - len(measured["fps"]))
    without = sum(r["without_frames"] for r in ready)
    client_pct = 100 * sum(measured["client_cpu_s"]) / measured["client_elapsed_s"]
    row: dict[str, Any] = {
        "n": n,
        "topology": topology,
        "streams": streams,
        "streams_without_frames": without,
        "fps_min": round(min(fps), 1),
        "fps_median": round(statistics.median(fps), 1),
        "subscribers_below_10fps": sum(f < ENOUGH_FPS for f in fps),
        "ok": min(fps) >= ENOUGH_FPS and without == 0,
        "kbit_s_per_stream": round(statistics.median(measured["kbit_s"]), 1),
        # What one person's device would send: one stream to Janus, or one to each peer.
        "uplink_kbit_s_per_participant": round(
            statistics.median(measured["kbit_s"]) * (1 if topology == "sfu" else n - 1), 1
        ),
        "client_cpu_pct_of_core": round(client_pct, 1),
        "client_cpu_pct_per_process": [
            round(100 * c / measured["client_elapsed_s"], 1) for c in measured["client_cpu_s"]
        ],
        "client_cpu_pct_per_participant": round(client_pct / n, 1),
    }
    if topology == "sfu":
        janus_pct = 100 * measured["janus_cpu_s"] / measured["janus_elapsed_s"]
        row["janus_cpu_pct_of_core"] = round(janus_pct, 2)
        row["janus_cpu_pct_per_stream"] = round(janus_pct / streams, 3)
        row["janus_cpu_pct_per_stream_net_of_idle"] = round((janus_pct - idle_pct) / streams, 3)
    return row


def janus_fit(rows: list[dict]) -> dict:
    """Janus's CPU split, by least squares over the SFU runs, into a cost per published stream
    (taking it in: N of them) and per forwarded stream (N*(N-1)): the second is the marginal
    cost of one more subscriber, which the per-stream figure of a small room overstates."""
    if len(rows) < 2:
        return {}
    xs = [(r["n"], r["streams"], r["janus_cpu_pct_of_core"]) for r in rows]
    aa = sum(p * p for p, _, _ in xs)
    ab = sum(p * f for p, f, _ in xs)
    bb = sum(f * f for _, f, _ in xs)
    ay = sum(p * y for p, _, y in xs)
    by = sum(f * y for _, f, y in xs)
    det = aa * bb - ab * ab
    if not det:
        return {}
    return {
        "janus_cpu_pct_per_published_stream_fit": round((ay * bb - ab * by) / det, 3),
        "janus_cpu_pct_per_forwarded_stream_fit": round((aa * by - ab * ay) / det, 3),
    }


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import ROOT, fresh_database, setup_django

    setup_django()
    from tests.janus_server import janus_installed, start_janus

    if not janus_installed():
        sys.exit("bench_group needs Janus: make media (or apt-get install janus)")

    from django.conf import settings
    from django.utils import timezone
    from worlds import PASSWORD, staff
    from worlds import patients as make_patients
    from worlds import practice as make_practice

    from telehealth.accounts import services as account_services
    from telehealth.accounts.models import Role
    from visits import group_live, group_services
    from visits.models import GroupSession

    began = time.monotonic()
    budget = BUDGET / len(TOPOLOGIES)  # each topology's share
    drop = fresh_database()
    server = start_janus("bench")
    clients = Clients(PROCESSES, ROOT)
    settings.JANUS_INSTANCES = [server.entry]
    pid = server.process.pid
    results: list[dict] = []
    figures: dict[str, Any] = {
        "benchmark": "group",
        "picture": f"{WIDTH}x{HEIGHT} at {FPS} fps, VP8",
        "seconds": SECONDS,
        "client_processes": PROCESSES,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    try:
        practice = make_practice("group")
        host = staff(practice, Role.CLINICIAN)
        # A portal login each: they join as themselves.
        people = [
            account_services.patient_user_create(patient=person, password=PASSWORD)
            for person in make_patients(practice, max(SIZES))
        ]
        idle = cpu_seconds(pid)
        time.sleep(min(SECONDS, 5))
        idle_pct = 100 * (cpu_seconds(pid) - idle) / min(SECONDS, 5)
        figures["janus_idle_cpu_pct_of_core"] = round(idle_pct, 2)
        for topology in TOPOLOGIES:
            started = time.monotonic()
            for n in SIZES:
                if time.monotonic() - started > budget:
                    print(
                        f"{topology} N={n}: skipped, its {budget:.0f} s of BENCH_GROUP_BUDGET spent"
                    )
                    break
                if topology == "sfu":
                    now = timezone.now()
                    session = group_services.group_session_create(
                        by=host,
                        title=f"Bench {n}",
                        host=host,
                        co_hosts=[],
                        starts_at=now - timedelta(minutes=5),
                        ends_at=now + timedelta(minutes=55),
                        capacity=n,
                        modality=GroupSession.Modality.VIDEO,
                        patients=[user.patient for user in people[:n]],
                    )
                    # Each patient waits, and the host lets everyone in, as in the room page.
                    for invitation in session.invitees.all():
                        group_live.waiting_arrive(
                            session=session, invitation=invitation, channel=f"bench.{invitation.pk}"
                        )
                    group_live.group_admit(session=session, by=host)
                    passes = [
                        group_services.group_join(session=session, user=user).as_json()
                        for user in people[:n]
                    ]
                    shares = [passes[i::PROCESSES] for i in range(PROCESSES)]
                    clients.ask([{"op": "publish", "passes": s} if s else None for s in shares])
                    feeds = [p["feed"] for p in passes]
                    ready = clients.ask(
                        [
                            {"op": "subscribe", "passes": s, "feeds": feeds} if s else None
                            for s in shares
                        ]
                    )
                else:
                    pairs = [[a, b] for a in range(n) for b in range(a + 1, n)]
                    pair_shares = [pairs[i::PROCESSES] for i in range(PROCESSES)]
                    ready = clients.ask(
                        [{"op": "mesh", "pairs": s} if s else None for s in pair_shares]
                    )
                time.sleep(WARMUP)
                row = figures_of(n, topology, ready, measure(clients, pid), idle_pct)
                clients.ask([{"op": "close"}] * PROCESSES)
                if topology == "sfu":
                    group_services.group_session_cancel(session=session, by=host)
                row["load_average"] = round(os.getloadavg()[0], 2)
                results.append(row)
                print(line_of(row))
                if not row["ok"] and not KEEP_GOING:
                    break
    finally:
        clients.stop()
        server.stop()
        drop()
    figures["runs"] = results
    for topology in ("sfu", "mesh"):
        passing = [r["n"] for r in results if r["topology"] == topology and r["ok"]]
        figures[f"largest_n_at_10fps_{topology}"] = max(passing) if passing else None
    sfu = [r for r in results if r["topology"] == "sfu"]
    figures.update(janus_fit(sfu))
    mesh = {r["n"]: r for r in results if r["topology"] == "mesh"}
    # The baseline of the comparison: the SFU's client CPU at the same N, in the same run.
    figures["mesh_client_cpu_over_sfu"] = {
        r["n"]: round(mesh[r["n"]]["client_cpu_pct_of_core"] / r["client_cpu_pct_of_core"], 2)
        for r in sfu
        if r["n"] in mesh and r["client_cpu_pct_of_core"]
    }
    figures["load_average_after"] = os.getloadavg()
    figures["seconds_total"] = round(time.monotonic() - began, 1)
    print(
        f"largest N with every subscriber >= {ENOUGH_FPS:.0f} fps: "
        f"SFU {figures['largest_n_at_10fps_sfu']}, mesh {figures['largest_n_at_10fps_mesh']} "
        f"(clients and Janus on {os.cpu_count()} cores, load {figures['load_average'][0]:.1f})"
    )
    print(f"Janus idle: {figures['janus_idle_cpu_pct_of_core']} % of a core")
    if "janus_cpu_pct_per_forwarded_stream_fit" in figures:
        print(
            f"Janus, fitted over the SFU runs: "
            f"{figures['janus_cpu_pct_per_forwarded_stream_fit']} % of a core per forwarded "
            f"stream, {figures['janus_cpu_pct_per_published_stream_fit']} % per published one"
        )
    print(f"mesh/SFU client CPU at the same N: {figures['mesh_client_cpu_over_sfu']}")
    print(json.dumps(figures))


def line_of(row: dict) -> str:
    janus = ""
    if row["topology"] == "sfu":
        janus = (
            f", Janus {row['janus_cpu_pct_of_core']} % of a core = "
            f"{row['janus_cpu_pct_per_stream']} %/stream "
            f"({row['janus_cpu_pct_per_stream_net_of_idle']} net of idle)"
        )
    silent = row["streams_without_frames"]
    return (
        f"{row['topology']:4} N={row['n']:2} {row['streams']:3} streams: fps min "
        f"{row['fps_min']} median {row['fps_median']} ({row['subscribers_below_10fps']} below "
        f"10{f', {silent} never started' if silent else ''}), "
        f"{row['kbit_s_per_stream']} kbit/s each "
        f"({row['uplink_kbit_s_per_participant']} sent per participant){janus}; clients "
        f"{row['client_cpu_pct_of_core']} % of a core ({row['client_cpu_pct_per_participant']} "
        f"per participant, per process {row['client_cpu_pct_per_process']}), load "
        f"{row['load_average']} -> {'ok' if row['ok'] else 'BELOW 10 fps'}"
    )


if __name__ == "__main__":
    main()

"""Client CPU per request: aiohttp's client against `rehearse.sim.http1.Http1Client`, each POSTing
the same webhook-sized body to one bare ASGI endpoint on uvicorn in a child process (so only the
client's work is counted in this process), at `--concurrency` connections.

Prints one JSON line per client and round: CPU microseconds per request (`client_cpu_us_per_request`,
this process only) and requests per second.

    uv run python bench/http_client.py [--requests 20000] [--concurrency 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time

import aiohttp

from rehearse.sim.http1 import Http1Client
from rehearse.sim.live import run_loop

BODY = json.dumps({"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1769904000,
                   "data": {"object": {f"field_{n}": "value" for n in range(60)}}}).encode()
HEADERS = {"Content-Type": "application/json", "Stripe-Signature": "t=1769904000,v1=" + "0" * 64}


def _server(port: int) -> None:
    import uvicorn

    async def app(scope, receive, send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"17")]})
        await send({"type": "http.response.body", "body": b'{"received":true}'})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off",
                loop="uvloop", http="httptools")


async def _aiohttp(url: str, requests: int, concurrency: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(url, data=BODY, headers=HEADERS) as response:
                    await response.read()
                    assert response.status == 200, response.status

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _http1(url: str, requests: int, concurrency: int) -> None:
    client = Http1Client(connections_max=concurrency)
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            response = await client.post(url, BODY, HEADERS)
            assert response.status == 200, response.status

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(target=_server, args=(port,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}/webhooks"
    for _ in range(100):  # until the server listens
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        for _ in range(args.rounds):
            for name, client in (("aiohttp", _aiohttp), ("http1", _http1)):
                cpu_started_s, started_s = time.process_time(), time.perf_counter()
                run_loop(client(url, args.requests, args.concurrency))
                cpu_s, wall_s = time.process_time() - cpu_started_s, time.perf_counter() - started_s
                print(json.dumps({"client": name, "requests": args.requests, "concurrency": args.concurrency,
                                  "client_cpu_us_per_request": round(cpu_s / args.requests * 1e6, 1),
                                  "requests_per_s": round(args.requests / wall_s)}))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()

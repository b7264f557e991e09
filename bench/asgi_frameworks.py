"""Which ASGI framework to serve the fakes with: the same JSON POST endpoint (a body validated by
one pydantic model, a small JSON answer) on FastAPI and on bare Starlette, each on uvicorn in a
child process, driven by an aiohttp client at a fixed concurrency. Prints one JSON line.

    python bench/asgi_frameworks.py --requests 6000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time

from pydantic import BaseModel


class Document(BaseModel):
    doc_type: str
    external_id: str
    amount_minor: int
    currency: str


def fastapi_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/record/v1/{doc_type}", status_code=201)
    async def create(doc_type: str, document: Document) -> dict:
        return {"id": "1001"}

    return app


def starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def create(request):
        Document.model_validate_json(await request.body())  # the same validation FastAPI does
        return JSONResponse({"id": "1001"}, status_code=201)

    return Starlette(routes=[Route("/record/v1/{doc_type}", create, methods=["POST"])])


def _serve(kind: str, port: int) -> None:
    import uvicorn

    app = fastapi_app() if kind == "fastapi" else starlette_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _drive(port: int, requests: int, concurrency: int) -> float:
    import aiohttp

    body = {"doc_type": "invoice", "external_id": "in_1", "amount_minor": 1250, "currency": "USD"}
    url = f"http://127.0.0.1:{port}/record/v1/invoice"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        for _ in range(100):  # wait for the server, and warm up
            try:
                async with session.post(url, json=body) as response:
                    await response.read()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, json=body) as response:
                    assert response.status == 201, response.status
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


def measure(kind: str, requests: int, concurrency: int) -> float:
    """Requests per second one uvicorn worker serves with `kind` ("fastapi" or "starlette")."""
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(kind, port), daemon=True)
    server.start()
    try:
        return asyncio.run(_drive(port, requests, concurrency))
    finally:
        server.terminate()
        server.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    result = {"requests": args.requests, "concurrency": args.concurrency}
    for kind in ("fastapi", "starlette"):
        result[f"{kind}_requests_per_s"] = round(measure(kind, args.requests, args.concurrency), 1)
    result["starlette_over_fastapi"] = round(result["starlette_requests_per_s"] / result["fastapi_requests_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

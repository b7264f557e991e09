"""The lean HTTP/1.1 client: keep-alive reuse, the answer framings a receiver may use, and the three
ways a request ends without an answer (could not connect, answer lost, timeout)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rehearse.sim.http1 import AnswerLost, AnswerTimeout, ConnectFailed, Http1Client, split_url
from rehearse.sim.serving import serving


async def _raw_server(answer: bytes | None, *, delay_s: float = 0.0, requests: list[bytes] | None = None):
    """A server that reads one request head and body per exchange and writes `answer` (None: closes)."""
    seen = requests if requests is not None else []
    connections = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                seen.append(head + await reader.readexactly(length))
                await asyncio.sleep(delay_s)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower() or b"content-length" not in answer.lower() \
                        and b"chunked" not in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections


def test_posts_reuse_one_keep_alive_connection_and_send_host_and_length() -> None:
    async def main():
        requests: list[bytes] = []
        server, url, connections = await _raw_server(
            b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nX-Thing: a\r\n\r\n{\"received\":true}", requests=requests)
        async with server:
            client = Http1Client(connections_max=4)
            answers = [await client.post(url + "/webhooks?x=1", b'{"n":%d}' % n, {"Stripe-Signature": "t=1,v1=ab"})
                       for n in range(3)]
            await client.close()
        return answers, requests, connections

    answers, requests, connections = asyncio.run(main())
    assert [a.status for a in answers] == [200, 200, 200] and answers[0].body == b'{"received":true}'
    assert answers[0].headers["x-thing"] == "a"
    assert len(connections) == 1  # one connection carried all three
    first = requests[0]
    assert first.startswith(b"POST /webhooks?x=1 HTTP/1.1\r\n") and b"\r\nHost: 127.0.0.1:" in first
    assert b"Content-Length: 7\r\n" in first and b"Stripe-Signature: t=1,v1=ab\r\n" in first
    assert first.endswith(b'\r\n\r\n{"n":0}')


def test_chunked_and_close_delimited_answers_are_read_whole() -> None:
    async def main():
        chunked, url_chunked, _ = await _raw_server(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n0\r\n\r\n")
        until_close, url_close, _ = await _raw_server(b"HTTP/1.0 202 Accepted\r\n\r\nok then")
        async with chunked, until_close:
            client = Http1Client()
            answers = (await client.post(url_chunked, b"{}", {}), await client.post(url_close, b"{}", {}),
                       await client.post(url_close, b"{}", {}))  # a new connection after the close
            await client.close()
        return answers

    first, second, third = asyncio.run(main())
    assert (first.status, first.body) == (503, b"busy")
    assert (second.status, second.body) == (202, b"ok then") and third.status == 202


def test_an_answer_through_uvicorn() -> None:
    async def app(scope, receive, send):
        body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    async def main():
        async with serving(app) as url:
            client = Http1Client(connections_max=2)
            answers = await asyncio.gather(*(client.post(url + "/x", b"n%d" % n, {}) for n in range(10)))
            await client.close()
        return answers

    answers = asyncio.run(main())
    assert sorted(a.body for a in answers) == sorted(b"n%d" % n for n in range(10))
    assert {a.status for a in answers} == {201}


def test_nobody_listening_is_connect_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main():
        client = Http1Client()
        with pytest.raises(ConnectFailed):
            await client.post(f"http://127.0.0.1:{port}/webhooks", b"{}", {})

    asyncio.run(main())


def test_a_connection_closed_before_the_answer_is_answer_lost() -> None:
    async def main():
        requests: list[bytes] = []
        server, url, _ = await _raw_server(None, requests=requests)
        async with server:
            client = Http1Client()
            with pytest.raises(AnswerLost):
                await client.post(url, b"{}", {})
            await client.close()
        return requests

    assert len(asyncio.run(main())) == 1  # it was sent: the receiver may have acted on it


def test_garbage_is_answer_lost_and_a_slow_answer_times_out() -> None:
    async def main():
        garbage, url_garbage, _ = await _raw_server(b"SMTP ready\r\n\r\n")
        slow, url_slow, _ = await _raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", delay_s=1.0)
        async with garbage, slow:
            client = Http1Client(timeout_s=0.1)
            with pytest.raises(AnswerLost):
                await client.post(url_garbage, b"{}", {})
            with pytest.raises(AnswerTimeout):
                await client.post(url_slow, b"{}", {})
            await client.close()

    asyncio.run(main())


def test_requests_beyond_the_connection_cap_wait_for_a_free_connection() -> None:
    async def main():
        server, url, connections = await _raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", delay_s=0.01)
        async with server:
            client = Http1Client(connections_max=2)
            answers = await asyncio.gather(*(client.post(url, b"{}", {}) for _ in range(8)))
            await client.close()
        return answers, connections

    answers, connections = asyncio.run(main())
    assert [a.status for a in answers] == [200] * 8 and len(connections) == 2


def test_bad_urls_and_header_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        split_url("ftp://example.com/x")
    origin, target = split_url("https://user:pw@example.com/hooks")
    assert (origin.port, origin.host_header, target) == (443, b"example.com", b"/hooks")

    async def main():
        with pytest.raises(ValueError, match="line break"):
            await Http1Client().post("http://127.0.0.1:9/x", b"", {"X-Evil": "a\r\nInjected: 1"})

    asyncio.run(main())

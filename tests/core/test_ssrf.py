"""The SSRF guard (apps.core.net): which URLs and addresses are refused, pinning, redirects checked hop by hop."""

import ipaddress
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import httpx
import pytest

from apps.core import net
from apps.core.exceptions import ValidationFailed


@pytest.mark.parametrize("url", ["ftp://example.com/a", "file:///etc/passwd", "no url", "http://u:p@example.com/", ""])
def test_only_http_urls_with_a_host_and_no_credentials(url):
    with pytest.raises(net.URLRefused) as info:
        net.check_url(url)
    assert info.value.code == "invalid_url" and info.value.status_code == 400


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "169.254.169.254",  # the cloud metadata service
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "ff02::1",
    ],
)
def test_non_public_addresses(address):
    assert not net.is_public(ipaddress.ip_address(address))
    with pytest.raises(net.URLRefused) as info:
        host = f"[{address}]" if ":" in address else address
        net.resolve(net.check_url(f"http://{host}:5432/"))
    assert info.value.code == "url_refused"
    assert "private, loopback or link-local" in info.value.message


def test_public_addresses_pass():
    for address in ("93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"):
        assert net.is_public(ipaddress.ip_address(address))


def test_allowed_private_addresses_and_unresolvable_names():
    assert net.resolve(net.check_url("http://127.0.0.1:8080/"), allow_private=True) == "127.0.0.1"
    with pytest.raises(net.URLRefused) as info:
        net.resolve(net.check_url("http://no-such-host.invalid/"))
    assert info.value.code == "url_unreachable"


def test_a_caller_chooses_its_error_class():
    class Mine(ValidationFailed):
        pass

    with pytest.raises(Mine):
        net.check_url("ftp://x", error=Mine)
    with pytest.raises(Mine):
        net.Guard(error=Mine).pin("http://localhost/")


def test_pin_connects_to_the_checked_address_and_keeps_the_name():
    target, headers, extensions = net.Guard(allow_private=True).pin("https://localhost:8443/v1/models?x=1")
    assert target.host in ("127.0.0.1", "::1") and target.port == 8443 and target.path == "/v1/models"
    assert headers == {"Host": "localhost:8443"} and extensions == {"sni_hostname": "localhost"}
    plain = net.Guard(allow_private=True).pin("http://localhost/")
    assert plain[2] == {}  # no TLS, no server name


@pytest.fixture
def redirecting():
    """``/hop/n`` redirects to ``/hop/n-1``; ``/hop/0`` answers; ``/away`` redirects to the metadata service."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            elif self.path.startswith("/hop/") and self.path != "/hop/0":
                self.send_response(302)
                self.send_header("Location", f"/hop/{int(self.path.rsplit('/', 1)[1]) - 1}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class LoopbackOnly(net.Guard):
    """Allows loopback (the test server) and nothing else that is private."""

    def pin(self, url):
        parsed = net.check_url(str(url))
        allow = parsed.host == "127.0.0.1"
        address = net.resolve(parsed, allow_private=allow)
        return parsed.copy_with(host=address), {"Host": parsed.netloc.decode("ascii")}, {}


def _get(base, path, guard, max_redirects=5):
    with (
        net.guarded_client() as client,
        net.stream_following_redirects(
            client, base + path, guard=guard, max_redirects=max_redirects, deadline=time.monotonic() + 10
        ) as (response, final, redirects),
    ):
        return response.status_code, str(final), redirects, response.read()


def test_redirects_are_followed_one_checked_hop_at_a_time(redirecting):
    base, seen = redirecting
    status, final, redirects, body = _get(base, "/hop/2", LoopbackOnly())
    assert (status, body) == (200, b"ok")
    assert final == f"{base}/hop/0" and redirects == [f"{base}/hop/1", f"{base}/hop/0"]
    assert seen == ["/hop/2", "/hop/1", "/hop/0"]


def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(redirecting):
    base, seen = redirecting
    with pytest.raises(net.URLRefused) as info:
        _get(base, "/away", LoopbackOnly())
    assert info.value.code == "url_refused" and "169.254.169.254" in info.value.message
    assert seen == ["/away"]


def test_too_many_redirects(redirecting):
    base, _ = redirecting
    with pytest.raises(net.URLRefused) as info:
        _get(base, "/hop/9", LoopbackOnly(), max_redirects=3)
    assert info.value.code == "too_many_redirects" and len(info.value.details["redirects"]) == 4


def test_a_spent_deadline_is_a_timeout(redirecting):
    base, seen = redirecting
    with (
        net.guarded_client() as client,
        pytest.raises(httpx.TimeoutException),
        net.stream_following_redirects(
            client, base + "/hop/0", guard=LoopbackOnly(), max_redirects=1, deadline=time.monotonic() - 1
        ),
    ):
        pass
    assert seen == []

"""The fuzzer's own logic (part of `make test`): the permission each operation needs is read from its view, a caller's
permissions are its role's narrowed by its key's scopes, and generated requests stay on this machine."""

from __future__ import annotations

import socket

import pytest

from apps.core.roles import PERMISSIONS, ROLES
from tests.fuzz.operations import Gate, Identity, operation_gates, route_key, schema_key
from tests.fuzz.world import API_KEY_SCOPES, loopback_only


def test_keys_of_routes_and_schema_paths_meet() -> None:
    assert route_key("get", "api/v1/^erp/customers/(?P<pk>[^/.]+)/$") == "GET /api/v1/erp/customers/{}/"
    assert schema_key("get", "/api/v1/erp/customers/{id}/") == "GET /api/v1/erp/customers/{}/"
    tool = "/api/v1/chat/tools/{name}/run/"
    assert route_key("post", "api/v1/chat/tools/<str:name>/run/") == schema_key("post", tool)


def test_gates_are_read_from_the_views() -> None:
    gates = operation_gates()
    assert gates["GET /api/v1/erp/customers/"].permissions == {"erp.read"}
    assert gates["POST /api/v1/erp/customers/"].permissions == {"erp.write"}
    assert gates["POST /api/v1/erp/sales-orders/{}/confirm/"].permissions == {"erp.approve"}
    assert gates["GET /api/v1/erp/reports/trial-balance/"].permissions == {"erp.approve"}
    assert gates["POST /api/v1/core/users/"].permissions == {"core.audit"}
    assert gates["POST /api/v1/auth/token/"].public
    me = gates["GET /api/v1/auth/me/"]
    assert (me.public, me.permissions, me.roles) == (False, frozenset(), None)
    assert all(p in PERMISSIONS for gate in gates.values() for p in gate.permissions)


def test_a_key_narrows_its_owners_permissions() -> None:
    key = Identity(name="apikey", roles=frozenset({"user"}), scopes=frozenset(API_KEY_SCOPES))
    assert key.permissions == {"erp.read", "chat.use"}
    assert Identity(name="user", roles=frozenset({"user"})).permissions == ROLES["user"]
    assert Identity(name="root", roles=frozenset(), superuser=True).permissions == set(PERMISSIONS)
    write = Gate(view="CustomerViewSet", action="create", permissions=frozenset({"erp.write"}))
    assert Identity(name="user", roles=frozenset({"user"})).permissions >= write.permissions
    assert write.admits(Identity(name="user", roles=frozenset({"user"})))
    assert not write.admits(key)
    assert not write.admits(Identity(name="guest", roles=frozenset({"guest"})))
    by_role = Gate(view="V", action=None, roles=frozenset({"admin"}))
    assert by_role.admits(Identity(name="admin", roles=frozenset({"admin"})))
    assert not by_role.admits(Identity(name="manager", roles=frozenset({"manager"})))
    assert Gate(view="V", action=None, public=True).admits(key)


def test_fuzzing_reaches_loopback_only() -> None:
    with loopback_only():
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo("example.com", 80)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            with pytest.raises(ConnectionRefusedError, match="loopback only"):
                sock.connect(("192.0.2.1", 80))  # TEST-NET-1: refused before any packet is sent
        finally:
            sock.close()
        assert socket.getaddrinfo("127.0.0.1", 80)
    assert socket.getaddrinfo is not None and socket.socket.connect.__name__ == "connect"

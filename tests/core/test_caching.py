"""Read caching: cached permission lookups, API keys, JWT users and hot API responses, and their invalidation by every
write path (save, delete, queryset update, bulk create/update, membership changes)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction

from apps.core import caching
from apps.core.roles import MANAGER, USER
from apps.core.services import api_key_revoke
from apps.erp.models import Product, SalesOrder
from apps.erp.services import sales
from tests.erp.factories import CustomerFactory, ProductFactory
from tests.erp.helpers import receive_stock

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/erp/products/"
ORDERS = "/api/v1/erp/sales-orders/"
ME = "/api/v1/auth/me/"


@pytest.fixture
def clerk(role_users):
    return role_users[USER]


@pytest.fixture
def clerk_client(role_client):
    return role_client(USER)


def test_cached_value_follows_its_model_version():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    namespaces = [caching.model_namespace(Product)]
    assert caching.cached("t:one", namespaces, compute) == 1
    assert caching.cached("t:one", namespaces, compute) == 1
    caching.bump_models(Product)
    assert caching.cached("t:one", namespaces, compute) == 2
    caching.bump_models(SalesOrder)  # another model: no effect
    assert caching.cached("t:one", namespaces, compute) == 2


def test_without_a_shared_cache_nothing_is_cached(settings):
    settings.READ_CACHE_ENABLED = False
    calls = []
    namespaces = [caching.model_namespace(Product)]
    assert caching.cached("t:off", namespaces, lambda: calls.append(1) or len(calls)) == 1
    assert caching.cached("t:off", namespaces, lambda: calls.append(1) or len(calls)) == 2
    assert cache.get("t:off") is None


def test_version_changes_again_when_the_transaction_commits(django_capture_on_commit_callbacks):
    key = "cachever:" + caching.model_namespace(Product)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            caching.bump_models(Product)
            inside = cache.get(key)
    assert len(callbacks) == 1
    assert cache.get(key) != inside  # a reader that cached old rows during the transaction is invalidated


def test_second_product_list_needs_no_query(clerk_client, django_assert_num_queries):
    ProductFactory.create_batch(3)
    first = clerk_client.get(PRODUCTS)
    assert first.status_code == 200
    with django_assert_num_queries(0):  # user, permissions and the page itself all come from the cache
        second = clerk_client.get(PRODUCTS)
    assert second.status_code == 200
    assert second.json() == first.json()


def _names(response):
    return {row["sku"]: row for row in response.json()["results"]}


def test_every_write_path_invalidates_the_product_list(clerk_client):
    product = ProductFactory(name="Before")
    assert _names(clerk_client.get(PRODUCTS))[product.sku]["name"] == "Before"

    product.name = "Saved"
    product.save()
    assert _names(clerk_client.get(PRODUCTS))[product.sku]["name"] == "Saved"

    Product.objects.filter(pk=product.pk).update(name="Updated")
    assert _names(clerk_client.get(PRODUCTS))[product.sku]["name"] == "Updated"

    product.refresh_from_db()
    product.name = "Bulk"
    Product.objects.bulk_update([product], ["name"])
    assert _names(clerk_client.get(PRODUCTS))[product.sku]["name"] == "Bulk"

    Product.objects.bulk_create([Product(sku="NEW-1", name="Created in bulk", sale_price=Decimal("1.00"))])
    assert "NEW-1" in _names(clerk_client.get(PRODUCTS))

    Product.objects.filter(sku="NEW-1").delete()
    assert "NEW-1" not in _names(clerk_client.get(PRODUCTS))


def test_product_detail_follows_an_api_write(role_client):
    product = ProductFactory(name="Old name")
    manager = role_client(MANAGER)
    url = f"{PRODUCTS}{product.pk}/"
    assert manager.get(url).json()["name"] == "Old name"
    assert manager.patch(url, {"name": "New name"}, format="json").status_code == 200
    assert manager.get(url).json()["name"] == "New name"


def test_missing_object_is_not_cached(clerk_client):
    assert clerk_client.get(f"{PRODUCTS}999999/").status_code == 404
    product = ProductFactory()
    assert clerk_client.get(f"{PRODUCTS}{product.pk}/").status_code == 200


def test_order_lines_follow_a_confirmation(clerk_client, manager_user):
    product = ProductFactory(sale_price=Decimal("10.00"))
    receive_stock(product, 5)
    order = sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": Decimal("2")}])
    url = f"{ORDERS}{order.pk}/"
    before = clerk_client.get(url).json()
    assert before["state"] == "draft" and Decimal(before["lines"][0]["quantity_reserved"]) == 0
    sales.sales_order_confirm(order=order, actor=manager_user)  # lines change through bulk_update
    after = clerk_client.get(url).json()
    assert after["state"] == "confirmed"
    assert Decimal(after["lines"][0]["quantity_reserved"]) == Decimal("2")


@pytest.fixture
def manager_user(role_users):
    return role_users[MANAGER]


def test_revoked_api_key_is_refused_on_the_next_request(api_client, clerk, make_api_key):
    key, secret = make_api_key(clerk)
    api_client.credentials(HTTP_X_API_KEY=secret)
    assert api_client.get(ME).status_code == 200
    assert api_client.get(ME).status_code == 200  # now from the cache
    api_key_revoke(key=key, actor=clerk)
    assert api_client.get(ME).status_code == 401


def test_losing_a_role_takes_effect_on_the_next_request(clerk, clerk_client):
    assert clerk_client.get(PRODUCTS).status_code == 200
    clerk.groups.remove(Group.objects.get(name=USER))
    assert clerk_client.get(PRODUCTS).status_code == 403
    clerk.groups.add(Group.objects.get(name=USER))
    assert clerk_client.get(PRODUCTS).status_code == 200


def test_deactivated_user_is_refused_on_the_next_request(clerk, clerk_client):
    assert clerk_client.get(ME).status_code == 200
    clerk.is_active = False
    clerk.save()
    assert clerk_client.get(ME).status_code == 401


def test_a_cached_page_is_still_refused_to_a_caller_without_permission(clerk_client, api_client):
    assert clerk_client.get(PRODUCTS).status_code == 200  # the page is now cached
    assert api_client.get(PRODUCTS).status_code == 401


def test_dashboard_follows_new_orders(role_client, manager_user, django_assert_max_num_queries):
    manager = role_client(MANAGER)
    url = "/api/v1/erp/reports/dashboard/?period=year"
    before = manager.get(url).json()
    with django_assert_max_num_queries(0):
        assert manager.get(url).json() == before
    product = ProductFactory(sale_price=Decimal("10.00"))
    sales.sales_order_create(customer=CustomerFactory(), lines=[{"product": product, "quantity": Decimal("1")}])
    after = manager.get(url).json()
    assert after["orders_total"] == before["orders_total"] + 1


def test_unchanged_list_revalidates_with_304(clerk_client):
    product = ProductFactory(name="Tagged")
    first = clerk_client.get(PRODUCTS)
    etag = first["ETag"]
    assert etag
    again = clerk_client.get(PRODUCTS, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    product.name = "Retagged"
    product.save()
    changed = clerk_client.get(PRODUCTS, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert _names(changed)[product.sku]["name"] == "Retagged"


def test_a_migration_drops_every_cached_read(settings):
    """Data migrations write with SQL or bulk updates that send no signals: after migrate nothing cached survives."""
    from django.apps import apps as django_apps

    settings.READ_CACHE_ENABLED = True
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    namespaces = [caching.model_namespace(Product), caching.AUTH]
    assert caching.cached("test:migrate", namespaces, compute) == 1
    assert caching.cached("test:migrate", namespaces, compute) == 1
    caching.bump_all_after_migrate(app_config=django_apps.get_app_config("erp"))  # other apps' signals: no-op
    assert caching.cached("test:migrate", namespaces, compute) == 1
    caching.bump_all_after_migrate(app_config=django_apps.get_app_config("core"))
    assert caching.cached("test:migrate", namespaces, compute) == 2

"""The shops the webhook receiver knows, found without a database query (issue 26).

Three levels, by address key (the webhook URL's uuid): this process's memory,
then the `woocommerce_shops` cache in Redis (shared by every web process, the
secrets kept there as stored: encrypted), then the database. A shop saved or
deleted (woocommerce/models.py) is forgotten in this process and in Redis at
once, and every other process is told on a Redis pub/sub channel, which a
daemon thread of each process listens to. While that thread is not subscribed
(Redis down, just started) the memory level is not used, so no process serves
a shop it could not hear about; the Redis level then expires in its timeout.

A request that read a shop just before it was saved must not put the old row
back in memory after the notice: the notice moves a generation counter, and a
row read under an older generation is not kept.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from core.encryption import decrypt, encrypt

logger = logging.getLogger(__name__)

LOCAL_SECONDS = 300.0  # a shop is read again at least this often, notices or not
CHANNEL = "woocommerce:shop-changed"


@dataclass(frozen=True)
class WebhookShop:
    """What the receiver needs of a shop: enough to check a signature and store a row."""

    id: int
    organization_id: int
    webhook_secrets: list[str]


def _shop_key(store_uuid) -> str:
    return f"woo-shop:{store_uuid}"


class LocalShops:
    """This process's shops, trusted only while its listener is subscribed."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, WebhookShop]] = {}
        self._generation = 0
        self._subscribed = threading.Event()
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key: str) -> WebhookShop | None:
        self._ensure_listener()
        if not self._subscribed.is_set():
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, shop: WebhookShop, generation: int) -> None:
        if self._subscribed.is_set() and generation == self._generation:
            self._entries[key] = (time.monotonic() + LOCAL_SECONDS, shop)

    def forget(self, key: str | None = None) -> None:
        self._generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def _ensure_listener(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            self._pid = pid
            self._subscribed.clear()
            self.forget()
            url = settings.WOOCOMMERCE_SHOP_CACHE_URL
            if url:
                threading.Thread(
                    target=self._listen, args=(url,), name="woocommerce-shops", daemon=True
                ).start()

    def _listen(self, url: str) -> None:
        import redis

        while True:
            try:
                client = redis.Redis.from_url(url, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(_channel())
                pubsub.get_message(timeout=5)  # the confirmation: from now on, notices arrive
                self.forget()
                self._subscribed.set()
                while True:
                    message = pubsub.get_message(timeout=30)
                    if message and message["type"] == "message":
                        self.forget(_shop_key(message["data"].decode()))
            except Exception:
                self._subscribed.clear()
                self.forget()
                logger.warning("shop cache: notices unavailable; reading from Redis", exc_info=True)
                time.sleep(1)


def _channel() -> str:
    prefix = settings.CACHES[settings.WOOCOMMERCE_SHOP_CACHE].get("KEY_PREFIX", "")
    return f"{prefix}:{CHANNEL}"


local_shops = LocalShops()


def forget_cached_shop(store_uuid) -> None:
    """Every process forgets this shop: this one's memory, Redis, and the others by notice."""
    key = _shop_key(store_uuid)
    local_shops.forget(key)
    try:
        caches[settings.WOOCOMMERCE_SHOP_CACHE].delete(key)
        if settings.WOOCOMMERCE_SHOP_CACHE_URL:
            import redis

            client = redis.Redis.from_url(
                settings.WOOCOMMERCE_SHOP_CACHE_URL, socket_timeout=1, socket_connect_timeout=1
            )
            try:
                client.publish(_channel(), str(store_uuid))
            finally:
                client.close()
    except Exception:  # Redis unavailable: the listeners drop their memory when it comes back
        logger.warning("shop cache: could not forget shop %s", store_uuid, exc_info=True)


def webhook_shop(store_uuid) -> WebhookShop | None:
    """The active shop of this address key, or None (unknown or inactive)."""
    from woocommerce.models import WooCommerceStore

    key = _shop_key(store_uuid)
    shop = local_shops.get(key)
    if shop is not None:
        return shop
    generation = local_shops.generation
    cache = caches[settings.WOOCOMMERCE_SHOP_CACHE]
    try:
        cached = cache.get(key)
    except Exception:
        logger.warning("shop cache unavailable; reading the shop from the database")
        cached, cache = None, None
    if cached is not None:
        shop_id, organization_id, tokens = cached
        try:
            shop = WebhookShop(shop_id, organization_id, [decrypt(t) for t in tokens])
        except (ValueError, ImproperlyConfigured):  # its key left ENCRYPTION_KEYS: read again
            shop = None
        if shop is not None:
            local_shops.put(key, shop, generation)
            return shop
    store = (
        WooCommerceStore.objects.filter(uuid=store_uuid, active=True)
        .only("id", "organization_id", "webhook_secret", "previous_webhook_secret")
        .first()
    )
    if store is None:
        return None
    shop = WebhookShop(store.pk, store.organization_id, store.webhook_secrets)
    if cache is not None:
        try:
            tokens = [encrypt(secret) for secret in shop.webhook_secrets]
            cache.set(key, (shop.id, shop.organization_id, tokens))
        except Exception:
            logger.warning("shop cache unavailable; the shop is not cached")
    local_shops.put(key, shop, generation)
    return shop

"""The carrier platforms an organization can connect: one module each, one interface (base)."""

from __future__ import annotations

from carriers.platforms.base import CarrierPlatform, Credentials


def platform_for(platform: str, credentials: Credentials) -> CarrierPlatform:
    """The client of `platform` (a `CarrierAccount.Platform` value)."""
    if platform == "sendcloud":
        from carriers.platforms.sendcloud import SendcloudPlatform

        return SendcloudPlatform(credentials)
    if platform == "demo":  # fictitious: refuses to start where it is not allowed
        from carriers.platforms.demo import DemoPlatform

        return DemoPlatform()
    raise ValueError(f"unknown carrier platform: {platform}")

"""Buses: where the core's events go on their way to delivery (``IBus``)."""

"""Webhooks the host site can trust: events written with each ticket change, signed deliveries.

events.py writes delivery rows in the change's transaction, urls.py decides which targets may
be fetched, signing.py builds the Standard Webhooks headers, delivery.py is the worker.
"""

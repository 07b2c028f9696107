"""Adapters: the local implementations of the ports, and the scaled ones beside them."""

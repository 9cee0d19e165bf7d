"""Nyhetsbrev: Markdown items to accessible Swedish email issues, a web archive and feeds."""

__version__ = "0.1.0"

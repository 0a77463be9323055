"""The Rulefile syntax: the only place that knows lark."""

from .parser import parse, parse_file

__all__ = ["parse", "parse_file"]

"""Executors: what starts, watches and stops jobs for the one run loop (rulec/run/loop.py).

``local``: per-slot bash workers on this machine (pull). The loop owns every decision.
"""

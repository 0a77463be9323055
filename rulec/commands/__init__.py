"""The commands that need more than the API: ``clean`` (the rest are in rulec/cli.py)."""

"""The one run loop (``loop.py``) and the Executor protocol it drives (``executor.py``)."""

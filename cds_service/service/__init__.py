"""The service layer: one hook call (pipeline.py) and the dependencies it shares with the HTTP edge."""

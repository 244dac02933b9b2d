"""Reads of the access app, one module per part: grants and online use, the closed learning room."""

"""Writes of the access app, one module per part: grants, online use, extra viewing, the closed room."""

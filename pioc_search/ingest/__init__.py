"""Turning corpus files into indexed passages."""

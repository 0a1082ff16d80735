"""Test support: clip makers and synthetic analyses (also used by bench/)."""

"""feedrank.v1 stubs, generated from proto/ when the package is built (setup.py)."""

"""Distributed ways to run a scan; each calls the one scoring path (nuchter.scan → nuchter.pipeline)."""

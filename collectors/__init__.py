"""Collectors: read sources and yield samples; the runner writes them."""

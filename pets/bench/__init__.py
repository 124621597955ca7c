"""Benchmarks behind `pets bench`: each module returns rows of measurements; only the CLI prints."""

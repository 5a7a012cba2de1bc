"""Zip folder trees -> registered collections: archive safety, layout, dataset doctor, split, store."""

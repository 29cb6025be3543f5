"""Datasets: CelebA in its standard layout, single-file training packs, procedural synthetic faces."""

from engine.data.celeba import CELEBA_SOURCE_NOTE, CelebADataset
from engine.data.labels import (
    LabelTable,
    read_attribute_csv,
    read_attribute_file,
    read_labels,
    read_partition,
)
from engine.data.pack import PackDataset, build_pack, build_pack_job, read_pack_metadata
from engine.data.synthetic import SYNTHETIC_ATTRIBUTES, SYNTHETIC_REGIONS, SyntheticFaces, render_face

__all__ = [
    "CELEBA_SOURCE_NOTE",
    "SYNTHETIC_ATTRIBUTES",
    "SYNTHETIC_REGIONS",
    "CelebADataset",
    "LabelTable",
    "PackDataset",
    "SyntheticFaces",
    "build_pack",
    "build_pack_job",
    "read_attribute_csv",
    "read_attribute_file",
    "read_labels",
    "read_pack_metadata",
    "read_partition",
    "render_face",
]

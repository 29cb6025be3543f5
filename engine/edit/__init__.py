"""Latent editing of cGAN codes: dials, attribute vectors, interpolation, strokes, completion, super-resolution."""

from engine.edit.constrained import (
    complete,
    complete_job,
    stroke_edit,
    stroke_edit_job,
    upscale,
    upscale_job,
)
from engine.edit.latent import (
    add_change,
    apply_vector,
    attribute_limit,
    compute_attribute_vectors,
    interpolate,
    render,
    set_attributes,
    slerp,
    store_attribute_vectors,
    translate,
)

__all__ = [
    "add_change", "apply_vector", "attribute_limit", "complete", "complete_job", "compute_attribute_vectors", "interpolate", "render",
    "set_attributes", "slerp", "store_attribute_vectors", "stroke_edit", "translate", "stroke_edit_job", "upscale", "upscale_job",
]

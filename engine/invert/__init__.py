"""GAN inversion: image → latent code (z, y) of the conditional GAN, by any registered method.

Methods (``METHODS``): ``encoder`` (IcGAN), ``optimize``, ``hybrid`` (default), ``in-domain``,
``force-in-domain``, ``pivotal`` (hybrid, then the generator tuned on the face: PTI). Adding one is one module
registering a function and one import below.
"""

from engine.invert import encoder, force_in_domain, hybrid, in_domain, optimize, pivotal  # noqa: F401  (register methods)
from engine.invert.api import invert, invert_job
from engine.invert.core import InversionResult, LatentCode
from engine.invert.registry import METHODS, Method, register_method

__all__ = ["METHODS", "InversionResult", "LatentCode", "Method", "invert", "invert_job", "register_method"]

"""What pyproject.toml cannot say: the packages are landslide_core's, plus the shipped
``models/`` folder, which a wheel carries as ``landslide_core/_models`` (found there by
``landslide_core.checkpoint.shipped_models_dir``; a checkout uses ``models/`` itself)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["landslide_core", "landslide_core.*"]) + ["landslide_core._models"],
      package_dir={"landslide_core._models": "models"})

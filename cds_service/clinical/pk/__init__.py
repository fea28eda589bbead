"""Population PK of sirolimus: one compartment, first-order absorption, MAP fit to a child's troughs.

Pure core: no I/O beyond the prior data files under fhir_profiles/pk-priors/ (validated on load).
The model informs; the protocol bounds: nothing here proposes a dose on its own authority.
"""
from .fit import Fit, ModelUnusable, fit_map, predict_steady_trough
from .model import Child, Dose, concentrations, regimen, steady_state_trough
from .priors import Prior, load_prior

__all__ = [
    "Child", "Dose", "Fit", "ModelUnusable", "Prior", "concentrations", "fit_map", "load_prior",
    "predict_steady_trough", "regimen", "steady_state_trough",
]

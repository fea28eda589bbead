"""`sirolimus-cds simulate`: a virtual cohort following each protocol with the service's own decisions."""

# The arms simulated, in the order that seeds each child's random numbers (here, not in `cohort`, so the
# command line lists them without importing numpy).
IHHE = "ihhe-sequential-sirolimus"
KHE_MAINTENANCE = "khe-maintenance"
KHE_GUIDED = "khe-guided-discontinuation"
ARMS = (IHHE, KHE_MAINTENANCE, KHE_GUIDED)

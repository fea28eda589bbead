"""`sirolimus-cds simulate`: a virtual cohort following each protocol with the service's own decisions."""

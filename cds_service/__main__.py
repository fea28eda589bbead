"""`python -m cds_service` is `sirolimus-cds`."""
import sys

from cds_service.cli import main

sys.exit(main())

"""Every error the service raises on purpose, and the HTTP answer each becomes.

    ServiceError                 base; carries an HTTP status and an OperationOutcome issue code
    ├── ConfigError              bad configuration file (raised at start-up, never on a request)
    ├── BadRequest         400   malformed JSON, schema failure, hook not offered by the service
    ├── Unauthorized       401   missing or invalid JWT (answered bare, without detail)
    ├── NotFound           404   unknown service id or decision page
    ├── PayloadTooLarge    413   body over the configured cap
    ├── UnsupportedMedia   415   body not JSON
    ├── PreconditionFailed 412   data the decision needs could not be had (FHIR server faults,
    │                            a fhirServer outside the allowlist, no fhirServer at all)
    └── ServiceUnavailable 503   the database or the JWT replay store did not answer in time;
                                 answered with Retry-After (nothing was decided or stored)

The adapters raise their own errors, each caught at one place that turns it into one of the above
(or, outside HTTP, into one line and an exit status):

    http.strict_json.Refused             JSON valid to json.loads but refused (duplicate names, NaN, huge
      (ValueError)                       numbers): http/body.py -> BadRequest 400; http/auth/ (JWT
                                         header, claims, JWKS) -> Unauthorized 401
    fhir.urls.Unnormalisable (ValueError)  a URL with no single canonical form: fhir/client.py -> NotAllowed
    fhir.client.FhirFetchError           data could not be had from the FHIR server (`cause`: one word
    └── NotAllowed                       for the metrics); NotAllowed: outside the allowlist, nothing
                                         sent: fhir/gather.py -> PreconditionFailed 412
    http.auth.replay.ReplayStoreUnavailable  the replay store cannot tell whether a jti was seen:
                                         http/auth/verify.py -> ServiceUnavailable 503 (fail closed)
    http.auth.keys.Rejected              any reason to refuse a JWT: http/auth/verify.py -> Unauthorized 401
    clinical.errors.ClinicalError        the clinical core's own (never a patient's data, which becomes
    └── ProtocolDataError                MissingData and findings): a protocol file fails its schema;
                                         service/data_files.py -> one line at start-up (serve, check, plan)
    clinical.pk.fit.ModelUnusable        the PK model cannot be used for this child: clinical/pk/informed.py ->
                                         the model's one line on the card and page (the decision stands; never HTTP)
    cli.local_fhir.FhirServerMissing     sekmet-fhir is not installed: cli/demo.py -> ConfigError, one line
      (RuntimeError)                     and the install hint (never HTTP)
    cli.common.ToolkitError              a CLI command failed: one line on stderr and `status` as the
                                         exit status (never HTTP)
    synthetic.seed.SeedError             `seed` could not upload a scenario: one line on stderr, exit 1
                                         (never HTTP)
"""
from __future__ import annotations


class ServiceError(Exception):
    status = 500
    issue_code = "exception"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ConfigError(ServiceError):
    issue_code = "invalid"


class BadRequest(ServiceError):
    status = 400
    issue_code = "invalid"


class Unauthorized(ServiceError):
    status = 401
    issue_code = "security"


class NotFound(ServiceError):
    status = 404
    issue_code = "not-found"


class PayloadTooLarge(ServiceError):
    status = 413
    issue_code = "too-long"


class UnsupportedMedia(ServiceError):
    status = 415
    issue_code = "not-supported"


class PreconditionFailed(ServiceError):
    status = 412
    issue_code = "incomplete"


class ServiceUnavailable(ServiceError):
    status = 503
    issue_code = "transient"
    retry_after_seconds = 5

"""Command-line tools for trying the service against a FHIR server: `check` and `plan`.

Thin adapters: they read FHIR data with the service's own client, build the hook request an EHR
would send, call the service (in-process or over HTTP) and print what comes back. No clinical logic
lives here; doses, phases and schedules come from the clinical core through the service.

    common.py   arguments shared by the commands, token handling, progress lines, FHIR reads
    check.py    `sirolimus-cds check`: one hook call, cards printed or as JSON
    render.py   cards -> readable terminal text
    plan.py     `sirolimus-cds plan`: the projected taper schedule as a table and a chart
"""

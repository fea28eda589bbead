"""Hook throughput and latency against the stack's ceiling, one command, loopback only.

    python -m bench.load [--seconds 10] [--bodies 32]

Starts `sirolimus-cds serve --dev --workers 2` (the documented workers for 2 cores; JWT off so the
load generator needs no keys) with SQLite, a bare-Flask ceiling (bench/ceiling.py) under the same
gunicorn settings, a sekmet-fhir process behind a proxy adding 20 ms per response, and drives them
with `wrk` (apt-get installed if missing; bench/rotate.lua rotates bodies so each request's prefetch
differs and no record memory answers). Scenarios:
  a  order-sign, full prefetch, typical child (24 months of troughs and labs, 30 MedicationRequests)
  b  the same for a 10-year history (~1,900 Observations, 200 MedicationRequests)
  c  order-sign, no prefetch: everything read from FHIR through the 20 ms proxy (1 connection)
  d  order-select whose draft is another drug (amoxicillin), full prefetch of a child not on sirolimus
  e  patient-view, child with no sirolimus and no KHE/IHHE, with (e1) and without (e2) prefetch
  f  the first hook call after start
It prints p50/p95/p99 (ms), requests/s, ratio to the ceiling, FHIR queries per call (c, e2), the
peak RSS of each worker and the load average. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.support.fhir_server import FhirServer, free_port, start_fhir_server

HERE = Path(__file__).parent
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
LABS = (("777-3", 250, "10*9/L"), ("3255-7", 2.5, "g/L"), ("1742-6", 15, "U/L"), ("1920-8", 25, "U/L"),
        ("1975-2", 4, "umol/L"), ("14682-9", 40, "umol/L"))
TODAY = dt.date.today()


# ---------------------------------------------------------------- synthetic children, plain JSON
def _obs(pid: str, rid: str, loinc: str, value: float, unit: str, on: dt.date) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": loinc}]}, "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": f"{on.isoformat()}T07:30:00Z",
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _order(pid: str, rid: str, start: dt.date, end: dt.date | None, mg: float, status: str,
           code: str = "314230") -> dict:
    bounds = {"start": start.isoformat()} | ({"end": end.isoformat()} if end else {})
    return {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
            "subject": {"reference": f"Patient/{pid}"}, "authoredOn": start.isoformat(),
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d",
                                                         "boundsPeriod": bounds}},
                                   "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "code": "mg",
                                                                     "system": "http://unitsofmeasure.org"}}]}]}


def child(pid: str, months: int, draws_per_month: int, orders: int, variant: int, *, on_sirolimus: bool = True
          ) -> dict[str, list[dict]]:
    """Resources by prefetch key: a child with KHE on sirolimus (or, if not, an unconcerned child)."""
    years = max(6, months // 12 + 2)
    out: dict[str, list[dict]] = {k: [] for k in ("sirolimusLevels", "weightHeight", "labs", "medicationRequests",
                                                  "conditions")}
    out["patient"] = [{"resourceType": "Patient", "id": pid, "gender": "female",
                       "identifier": [{"system": "urn:bench:nonce", "value": "BENCHNONCE"}],
                       "birthDate": (TODAY - dt.timedelta(days=years * 365 + variant)).isoformat()}]
    if on_sirolimus:
        out["conditions"].append({
            "resourceType": "Condition", "id": f"{pid}-khe", "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": "http://www.orpha.net", "code": "2122"}]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "onsetDateTime": (TODAY - dt.timedelta(days=30 * months + 60)).isoformat()})
    else:
        out["conditions"].append({
            "resourceType": "Condition", "id": f"{pid}-asthma", "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001"}]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]}})
    for m in range(months):
        for d in range(draws_per_month):
            drawn = TODAY - dt.timedelta(days=30 * (months - m) - 14 * d - 10)
            tag = f"{m}-{d}"
            weight = round(12 + m * 0.1 + variant * 0.01, 2)
            out["weightHeight"].append(_obs(pid, f"{pid}-w-{tag}", "29463-7", weight, "kg", drawn))
            for loinc, value, unit in LABS:
                out["labs"].append(_obs(pid, f"{pid}-{loinc}-{tag}", loinc, value, unit, drawn))
            if on_sirolimus:
                out["sirolimusLevels"].append(
                    _obs(pid, f"{pid}-t-{tag}", "29247-4", round(6.0 + 0.01 * variant, 2), "ng/mL", drawn))
    if on_sirolimus:
        span = 30 * months
        step = max(1, span // orders)
        for i in range(orders):
            start = TODAY - dt.timedelta(days=span - i * step)
            last = i == orders - 1
            end = None if last else start + dt.timedelta(days=step - 1)
            out["medicationRequests"].append(_order(pid, f"{pid}-mr-{i}", start, end, 0.8,
                                                    "active" if last else "completed"))
    else:
        out["medicationRequests"].append(_order(pid, f"{pid}-mr-0", TODAY - dt.timedelta(days=20), None, 250,
                                                "active", code="308182"))
    return out


def prefetch_of(resources: dict[str, list[dict]]) -> dict:
    bundle = {k: {"resourceType": "Bundle", "type": "searchset", "total": len(v),
                  "entry": [{"resource": r} for r in v]} for k, v in resources.items() if k != "patient"}
    for key in ("carePlans", "researchSubjects", "consents", "allergies", "adverseEvents"):
        bundle[key] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    return {"patient": resources["patient"][0], **bundle}


def draft(pid: str, code: str, mg: float) -> dict:
    d = _order(pid, "draft-1", TODAY, None, mg, "draft", code=code)
    del d["authoredOn"]
    return d


def hook_body(hook: str, pid: str, prefetch: dict | None, draft_order: dict | None,
              fhir: tuple[str, str] | None = None) -> dict:
    context: dict = {"userId": "Practitioner/bench", "patientId": pid}
    if draft_order is not None:
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": draft_order}]}
        if hook == "order-select":
            context["selections"] = ["MedicationRequest/draft-1"]
    body: dict = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    # Without prefetch the nonce rides in a key the service does not advertise (ignored, but part of
    # what the record memory is keyed on), so every call reads FHIR.
    nonce_only = {"benchNonce": {"resourceType": "Basic", "id": "BENCHNONCE"}}
    body["prefetch"] = prefetch if prefetch is not None else nonce_only
    if fhir is not None:
        body["fhirServer"], token = fhir
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "bench"}
    return body


def transaction_of(resources: dict[str, list[dict]]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for rs in resources.values() for r in rs]}


# ---------------------------------------------------------------- a FHIR server 20 ms further away
class DelayingProxy:
    """Forwards GETs to sekmet-fhir, answering each 20 ms later; counts queries and round trips."""

    def __init__(self, upstream: FhirServer, delay_s: float = 0.020) -> None:
        self.upstream, self.delay_s = upstream, delay_s
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/fhir"
        self.round_trips_ms: list[float] = []
        local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without TCP_NODELAY the body of a small answer
            # waited for the client's delayed ACK (about 40 ms more than the 20 ms asked for).
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                started = time.perf_counter()
                session = getattr(local, "session", None) or requests.Session()
                local.session = session
                upstream = proxy.upstream.base_url + self.path.removeprefix("/fhir")
                answer = session.get(upstream, headers={"Authorization": self.headers.get("Authorization", "")},
                                     timeout=30)
                body = answer.content.replace(proxy.upstream.base_url.encode(), proxy.base_url.encode())
                time.sleep(proxy.delay_s)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/fhir+json"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                proxy.round_trips_ms.append((time.perf_counter() - started) * 1000)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


# ---------------------------------------------------------------- processes and wrk
def body_bytes(path: Path, nonce: str) -> bytes:
    return path.read_bytes().replace(b"BENCHNONCE", nonce.encode())


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def wait_healthy(base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not become healthy")


def workers_of(master: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return []


def pss_mb(pid: int) -> float:
    """Proportional set size: the worker's memory with pages shared with the master (imported before
    the fork) divided among the processes sharing them."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_wrk(wrk: str, base: str, path: str, bodies: list[Path], workdir: Path, seconds: int,
            connections: int) -> dict:
    listing = workdir / f"bodies-{uuid.uuid4().hex}.txt"
    listing.write_text("\n".join(str(b) for b in bodies) + "\n")
    env = {**os.environ, "BENCH_BODIES": str(listing), "BENCH_PATH": path}
    out = subprocess.run([wrk, "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s",
                          "--timeout", "10s", "-s", str(HERE / "rotate.lua"), base],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run (default 10)")
    parser.add_argument("--bodies", type=int, default=32, help="distinct bodies rotated per scenario")
    parser.add_argument("--only", default="abcdef", help="scenarios to run, e.g. 'ad' (default all)")
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="sirolimus-load-"))
    procs: list[subprocess.Popen] = []
    fhir = start_fhir_server()
    proxy = DelayingProxy(fhir)
    try:
        port, ceiling_port = free_port(), free_port()
        base, ceiling = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ceiling_port}"
        (workdir / "bench.toml").write_text(
            f'database_url = "sqlite:///{workdir / "audit.db"}"\n'
            f'[fhir]\nallowed_servers = ["{proxy.base_url}"]\ntimeout_seconds = 10\n')
        started = time.perf_counter()
        service = subprocess.Popen([sys.executable, "-m", "cds_service", "serve", "--dev", "--port", str(port),
                                    "--workers", "2", "--config", str(workdir / "bench.toml")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(service)

        # Bodies per scenario, written as files for wrk's Lua script.
        scenarios: dict[str, tuple[str, list[dict]]] = {}
        n = args.bodies
        typical = [child(f"bench-a-{i}", 24, 1, 30, i) for i in range(n)]
        scenarios["a"] = ("sirolimus-order-sign", [
            hook_body("order-sign", f"bench-a-{i}", prefetch_of(r), draft(f"bench-a-{i}", "314230", 0.8))
            for i, r in enumerate(typical)])
        scenarios["b"] = ("sirolimus-order-sign", [
            hook_body("order-sign", f"bench-b-{i}", prefetch_of(child(f"bench-b-{i}", 120, 2, 200, i)),
                      draft(f"bench-b-{i}", "314230", 0.8)) for i in range(min(n, 8))])
        unconcerned = [child(f"bench-e-{i}", 24, 1, 1, i, on_sirolimus=False) for i in range(n)]
        scenarios["d"] = ("sirolimus-order-select", [
            hook_body("order-select", f"bench-e-{i}", prefetch_of(r), draft(f"bench-e-{i}", "308182", 250))
            for i, r in enumerate(unconcerned)])
        scenarios["e1"] = ("sirolimus-monitoring", [
            hook_body("patient-view", f"bench-e-{i}", prefetch_of(r), None) for i, r in enumerate(unconcerned)])
        # c and e2 read from sekmet-fhir through the proxy: seed a few children there.
        seeded = 4
        for i in range(seeded):
            for resources in (typical[i], unconcerned[i]):
                fhir.transaction(json.loads(json.dumps(transaction_of(resources)).replace("BENCHNONCE", "seeded")))
        creds = (proxy.base_url, fhir.token)
        scenarios["c"] = ("sirolimus-order-sign", [
            hook_body("order-sign", f"bench-a-{i}", None, draft(f"bench-a-{i}", "314230", 0.8), creds)
            for i in range(seeded)])
        scenarios["e2"] = ("sirolimus-monitoring", [
            hook_body("patient-view", f"bench-e-{i}", None, None, creds) for i in range(seeded)])
        files: dict[str, list[Path]] = {}
        for name, (_, bodies) in scenarios.items():
            files[name] = []
            for i, body in enumerate(bodies):
                path = workdir / f"{name}-{i}.json"
                path.write_text(json.dumps(body))
                files[name].append(path)
        sizes = {k: round(v[0].stat().st_size / 1024) for k, v in files.items()}

        # f: the first hook call after start (from process start to healthy, then one call).
        wait_healthy(base)
        boot_s = time.perf_counter() - started
        first_ms = []
        for i in range(2):  # one per worker, most likely: two fresh connections
            t0 = time.perf_counter()
            answer = requests.post(f"{base}/cds-services/sirolimus-order-sign", data=body_bytes(files["a"][i], "f"),
                                   headers={"Content-Type": "application/json"}, timeout=30)
            first_ms.append((time.perf_counter() - t0) * 1000)
            answer.raise_for_status()

        # The ceiling answers each scenario with the service's own card bytes.
        cards = workdir / "cards"
        cards.mkdir()
        for name, (service_id, _) in scenarios.items():
            answer = requests.post(f"{base}/cds-services/{service_id}", data=body_bytes(files[name][0], "cards"),
                                   headers={"Content-Type": "application/json"}, timeout=60)
            if answer.status_code != 200:
                print(f"{name}: service answered {answer.status_code}: {answer.text[:300]}", file=sys.stderr)
                return 1
            (cards / f"{name}.json").write_bytes(answer.content)
        ceiling_proc = subprocess.Popen([sys.executable, "-m", "bench.ceiling", "--port", str(ceiling_port),
                                         "--cards", str(cards)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ceiling_proc)
        wait_healthy(ceiling)

        plan = [("a", 16, True), ("a", 1, False), ("b", 16, True), ("b", 1, False), ("c", 1, False),
                ("d", 16, True), ("e1", 16, True), ("e2", 16, False)]
        rows = []
        for name, connections, with_ceiling in plan:
            if name[0] not in args.only:
                continue
            load = os.getloadavg()[0]
            before = len(proxy.round_trips_ms)
            result = run_wrk(wrk, base, f"/cds-services/{scenarios[name][0]}", files[name], workdir, args.seconds,
                             connections)
            trips = proxy.round_trips_ms[before:]
            result["fhir_per_call"] = len(trips) / max(1, result["requests"])
            result["slowest_fhir_ms"] = max(trips) if trips else 0.0
            if with_ceiling:
                roof = run_wrk(wrk, ceiling, f"/cds-services/{name}", files[name], workdir, args.seconds, connections)
                result["ceiling_rps"] = roof["rps"]
            rows.append((name, connections, load, result))

        rss = {pid: (peak_rss_mb(pid), pss_mb(pid)) for pid in workers_of(service.pid)}
        print(f"machine: {os.cpu_count()} cores, {args.seconds} s per run, {args.bodies} bodies; "
              f"body KB {sizes}")
        print(f"{'scenario':9} {'conn':>4} {'load1':>5} {'req/s':>8} {'ceiling':>8} {'ratio':>6} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'FHIR/call':>9} {'slowest FHIR ms':>15} {'non2xx':>6}")
        for name, connections, load, r in rows:
            ceiling_rps = r.get("ceiling_rps")
            ratio = f"{r['rps'] / ceiling_rps:6.2f}" if ceiling_rps else f"{'':6}"
            roof = f"{ceiling_rps:8.0f}" if ceiling_rps else f"{'':8}"
            print(f"{name:9} {connections:4} {load:5.2f} {r['rps']:8.1f} {roof} {ratio} {r['p50'] / 1000:7.1f} "
                  f"{r['p95'] / 1000:7.1f} {r['p99'] / 1000:7.1f} {r['fhir_per_call']:9.1f} "
                  f"{r['slowest_fhir_ms']:15.1f} {r['non2xx'] + r['errors']:6}")
        print(f"f: healthy {boot_s:.1f} s after start; first calls {', '.join(f'{x:.0f}' for x in first_ms)} ms")
        print("per worker (MB): " + ", ".join(f"{pid}: peak RSS {peak:.0f}, PSS at the end {pss:.0f}"
                                             for pid, (peak, pss) in rss.items()))
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proxy.stop()
        fhir.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""secrets.py drives a keymanager Service from outside the pods for the cluster e2e (no-auth: the project
comes from X-Project-Id, as the barbican CLI sends it with --no-auth).

  secrets.py store ENDPOINT COUNT PROJECTS OUT   store COUNT secrets spread over PROJECTS projects, 8 at a
                                                 time; OUT gets one "project href payload" line each
  secrets.py check ENDPOINT IN                   read every payload of IN back; fails on any difference
  secrets.py load ENDPOINT STOPFILE              create and read secrets with 8 clients until STOPFILE exists
  secrets.py sessions KUBECTL NS SELECTOR CAP STOPFILE
                                                 sum keymanager_hsm_sessions_open over the selected pods every
                                                 half second until STOPFILE exists, and print the largest sum;
                                                 a pod whose metrics cannot be read counts as CAP (its session
                                                 cap), so the sum never understates what the pods could hold
"""
import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request


def request(method, url, project, body=None, accept="application/json"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "X-Project-Id": project, "Accept": accept, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read()


def store_one(endpoint, project, i):
    payload = base64.b64encode(os.urandom(24)).decode()
    status, body = request("POST", endpoint + "/v1/secrets", project, {
        "name": "e2e-%d" % i, "payload": payload, "payload_content_type": "text/plain"})
    if status != 201:
        raise RuntimeError("store: HTTP %d %s" % (status, body[:200]))
    return project, json.loads(body)["secret_ref"], payload


def read_one(project, href, payload, endpoint=None):
    if endpoint:
        # The href names the server's host_href, which need not resolve here: ask the Service instead.
        href = endpoint + "/v1/" + href.split("/v1/", 1)[1]
    status, body = request("GET", href + "/payload", project, accept="text/plain")
    if status != 200 or body.decode() != payload:
        raise RuntimeError("%s: HTTP %d, payload %s" % (href, status, "differs" if status == 200 else body[:200]))


def store(endpoint, count, projects, out):
    count, projects = int(count), int(projects)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda i: store_one(endpoint, "e2e-project-%02d" % (i % projects), i), range(count)))
    with open(out, "w") as f:
        for r in rows:
            f.write(" ".join(r) + "\n")
    print("stored %d secrets in %d projects in %.1fs" % (count, projects, time.monotonic() - t0))


def check(endpoint, path):
    with open(path) as f:
        rows = [line.split() for line in f if line.strip()]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda r: read_one(*r, endpoint=endpoint), rows))
    print("read back %d secrets, every payload identical" % len(rows))


def load(endpoint, stopfile):
    ok = [0] * 8
    errors = []

    def client(n):
        i = 0
        while not os.path.exists(stopfile):
            i += 1
            try:
                read_one(*store_one(endpoint, "e2e-load", i), endpoint=endpoint)
                ok[n] += 2
            except (urllib.error.URLError, OSError, RuntimeError) as e:
                # A rollout closes connections and a pod may briefly answer 503: count, do not stop.
                errors.append(str(e))
                time.sleep(0.1)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    print("load: %d requests answered, %d failed during the rollout" % (sum(ok), len(errors)))
    for e in sorted(set(errors))[:5]:
        print("load: failure: %s" % e)
    if errors:
        sys.exit(1)


def sessions(kubectl, ns, selector, cap, stopfile):
    cap, peak, samples, missed, missed_in_a_row = int(cap), 0, 0, 0, 0
    while not os.path.exists(stopfile):
        # The API server of a loaded machine may miss one answer: the tick is skipped and counted, and only a
        # long run of misses (10 s without a pod list) ends the sampling, since the peak would then mean little.
        listed = subprocess.run([kubectl, "-n", ns, "get", "pods", "-l", selector, "-o", "json", "--request-timeout=5s"],
                                capture_output=True)
        if listed.returncode != 0:
            missed += 1
            missed_in_a_row += 1
            print("sessions: listing the pods failed: %s" % listed.stderr.decode().strip(), file=sys.stderr)
            if missed_in_a_row >= 20:
                sys.exit("sessions: no pod list for 20 ticks in a row; the sampling is not trustworthy")
            time.sleep(0.5)
            continue
        missed_in_a_row = 0
        pods = json.loads(listed.stdout)["items"]
        total, detail = 0, []
        for p in pods:
            ip = p["status"].get("podIP")
            running = p["status"].get("phase") == "Running"
            n = None
            if ip and running:
                try:
                    with urllib.request.urlopen("http://%s:9311/metrics" % ip, timeout=2) as resp:
                        for line in resp.read().decode().splitlines():
                            if line.startswith("keymanager_hsm_sessions_open "):
                                n = int(float(line.split()[1]))
                except (urllib.error.URLError, OSError):
                    pass
            if n is None:
                # Not yet started (no sessions) or not answering (may still hold its cap).
                n = cap if running else 0
            total += n
            detail.append("%s=%d" % (p["metadata"]["name"][-5:], n))
        samples += 1
        if total > peak:
            peak = total
            print("sessions: new peak %d (%s)" % (peak, " ".join(detail)), file=sys.stderr)
        time.sleep(0.5)
    print(peak)
    print("sessions: %d samples, %d ticks without a pod list, peak %d" % (samples, missed, peak), file=sys.stderr)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"store": store, "check": check, "load": load, "sessions": sessions}[cmd](*args)

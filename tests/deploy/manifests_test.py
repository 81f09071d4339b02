#!/usr/bin/python3
"""Offline checks of the container and Kubernetes files (no container daemon
or cluster needed):

- deploy/compose/compose.yaml against the Compose Specification's schema,
  every manifest of deploy/k8s against tests/data/schemas (see its README);
- the files agree with each other and with the code: image name and
  version, the admin port (Dockerfile, compose, Deployment, Service,
  ServiceMonitor, configuration), probe paths served by the admin API, the
  uid of the image, label selectors, mounted secrets;
- every configuration they carry passes `ispflowd --check-config` with the
  environment they give it (so every key exists and every value is valid).

  manifests_test.py SOURCE_DIR ISPFLOWD PROJECT_VERSION
Prints "N passed, M failed" and exits non-zero on any failure.
"""
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

src, ispflowd, version = sys.argv[1], sys.argv[2], sys.argv[3]
schemas = os.path.join(src, "tests", "data", "schemas")
k8s_dir = os.path.join(src, "deploy", "k8s")
compose_dir = os.path.join(src, "deploy", "compose")
image = f"ispflow:{version}"
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"[ OK ] {name}")
    else:
        results["failed"] += 1
        print(f"[FAIL] {name}: {detail}")


def load_json(path):
    import json
    with open(path) as f:
        return json.load(f)


def schema_errors(validator, doc):
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(doc)]


# -- schema validation ---------------------------------------------------------

compose_schema = load_json(os.path.join(schemas, "compose-spec.json"))
compose_validator = jsonschema.Draft201909Validator(compose_schema)
with open(os.path.join(compose_dir, "compose.yaml")) as f:
    compose = yaml.safe_load(f)
errs = schema_errors(compose_validator, compose)
check("compose.yaml matches the Compose Specification", not errs, "; ".join(errs[:5]))

k8s_schema = load_json(os.path.join(schemas, "kubernetes-subset.schema.json"))
jsonschema.Draft202012Validator.check_schema(k8s_schema)
defs = k8s_schema["$defs"]
docs = {}
for name in sorted(os.listdir(k8s_dir)):
    if not name.endswith(".yaml"):
        continue
    with open(os.path.join(k8s_dir, name)) as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            kind = doc.get("kind", "")
            if kind not in defs:
                check(f"k8s/{name}: known kind", False, f"kind {kind!r} has no schema")
                continue
            sub = dict(k8s_schema)
            sub.pop("oneOf")
            sub["$ref"] = f"#/$defs/{kind}"
            errs = schema_errors(jsonschema.Draft202012Validator(sub), doc)
            check(f"k8s/{name}: {kind} matches its schema", not errs, "; ".join(errs[:5]))
            docs.setdefault(kind, []).append((name, doc))

# The schemas refuse what they should (a check that cannot pass vacuously).
bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
       "spec": {"selector": {}, "template": {"spec": {"containers": [
           {"name": "c", "readinesProbe": {}}]}}}}
sub = dict(k8s_schema)
sub.pop("oneOf")
sub["$ref"] = "#/$defs/Deployment"
check("k8s schema refuses a misspelt field",
      bool(schema_errors(jsonschema.Draft202012Validator(sub), bad)))
check("compose schema refuses a misspelt field",
      bool(schema_errors(compose_validator, {"services": {"a": {"imagee": "x"}}})))

# -- the manifests against each other and the code ----------------------------------


def one(kind):
    xs = docs.get(kind, [])
    check(f"k8s: exactly one {kind}", len(xs) == 1, f"found {len(xs)}")
    return xs[0][1] if xs else {}


dep, svc, pdb, sm = one("Deployment"), one("Service"), one("PodDisruptionBudget"), one("ServiceMonitor")
cm, secret, kust = one("ConfigMap"), one("Secret"), one("Kustomization")

spec = dep.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
containers = pod.get("containers", [{}])
c = containers[0]
check("Deployment: at least 2 replicas", spec.get("replicas", 1) >= 2, spec.get("replicas"))
check("Deployment: selector matches its pod labels",
      spec.get("selector", {}).get("matchLabels", {}).items() <= pod_labels.items())
check("Deployment: image is " + image, c.get("image") == image, c.get("image"))


def selects(selector):
    return bool(selector) and selector.items() <= pod_labels.items()


check("PodDisruptionBudget selects the Deployment's pods",
      selects(pdb.get("spec", {}).get("selector", {}).get("matchLabels", {})))
check("PodDisruptionBudget keeps one pod", pdb.get("spec", {}).get("minAvailable") == 1)
check("Service selects the Deployment's pods", selects(svc.get("spec", {}).get("selector", {})))
svc_labels = svc.get("metadata", {}).get("labels", {})
sm_sel = sm.get("spec", {}).get("selector", {}).get("matchLabels", {})
check("ServiceMonitor selects the Service", bool(sm_sel) and sm_sel.items() <= svc_labels.items())

# Ports: one admin port everywhere.
admin_port = None
for p in c.get("ports", []):
    if p.get("name") == "admin":
        admin_port = p.get("containerPort")
check("Deployment: named port admin", admin_port is not None)
svc_ports = {p.get("name"): p for p in svc.get("spec", {}).get("ports", [])}
check("Service: port admin targets the container's", svc_ports.get("admin", {}).get("targetPort") in ("admin", admin_port))
check("ServiceMonitor: scrapes port admin at /metrics",
      all(e.get("port") in svc_ports and e.get("path") == "/metrics" for e in sm.get("spec", {}).get("endpoints", [])))

# Probe paths exist in the admin API's routes.
with open(os.path.join(src, "actors", "admin", "server.cpp")) as f:
    routes = set(re.findall(r'\.Get\(\s*"(/[^"]*)"', f.read()))
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
    got = c.get(probe, {}).get("httpGet", {})
    check(f"Deployment: {probe} on {path}", got.get("path") == path and got.get("port") in ("admin", admin_port), got)
check("admin API serves /healthz, /readyz and /metrics",
      {"/healthz", "/readyz", "/metrics"} <= routes, sorted(routes))

# Security: non-root with the image's uid, nothing to escalate with.
with open(os.path.join(src, "deploy", "docker", "Dockerfile")) as f:
    dockerfile = f.read()
froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
user = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)
expose = re.findall(r"^EXPOSE\s+(\d+)", dockerfile, re.M)
check("Dockerfile: builds on debian:12, runs on debian:12-slim",
      froms[:1] == ["debian:12"] and froms[-1:] == ["debian:12-slim"], froms)
check("Dockerfile: runs as a non-root uid", user and user[-1] != "0", user)
check("Dockerfile: exposes the admin port", expose == [str(admin_port)], expose)
psc = pod.get("securityContext", {})
check("Deployment: runs as the image's uid, non-root",
      psc.get("runAsNonRoot") is True and user and str(psc.get("runAsUser")) == user[-1], psc)
csc = c.get("securityContext", {})
check("Deployment: no privilege escalation, read-only root, no capabilities",
      csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True
      and csc.get("capabilities", {}).get("drop") == ["ALL"], csc)

# Kustomization lists every manifest.
listed = set(kust.get("resources", []))
files = {n for n in os.listdir(k8s_dir) if n.endswith(".yaml") and n != "kustomization.yaml"}
check("kustomization.yaml lists every manifest", listed == files, sorted(files ^ listed))

# Compose: the ispflowd service.
services = compose.get("services", {})
d = services.get("ispflowd", {})
check("compose: ispflowd image is " + image, d.get("image") == image, d.get("image"))
check("compose: Dockerfile it builds exists",
      os.path.exists(os.path.join(compose_dir, d.get("build", {}).get("context", "."), d.get("build", {}).get("dockerfile", "Dockerfile"))))
check("compose: real Kafka in KRaft mode",
      services.get("kafka", {}).get("image", "").startswith("apache/kafka:")
      and "controller" in services.get("kafka", {}).get("environment", {}).get("KAFKA_PROCESS_ROLES", ""))
check("compose: PostgreSQL and FreeRADIUS",
      services.get("postgres", {}).get("image", "").startswith("postgres:")
      and services.get("freeradius", {}).get("image", "").startswith("freeradius/freeradius-server:"))
check("compose: ispflowd publishes the admin port",
      any(str(p).endswith(f":{admin_port}:{admin_port}") for p in d.get("ports", [])), d.get("ports"))
top_secrets = set(compose.get("secrets", {}))
for name, s in services.items():
    for sec in s.get("secrets", []):
        check(f"compose: {name}'s secret {sec} is declared", sec in top_secrets)
    for dep_name in s.get("depends_on", {}):
        check(f"compose: {name} depends on an existing service ({dep_name})", dep_name in services)
for name, s in compose.get("secrets", {}).items():
    path = os.path.join(compose_dir, s.get("file", ""))
    check(f"compose: secret {name} file lies in secrets/ (git-ignored)",
          os.path.dirname(os.path.normpath(path)) == os.path.normpath(os.path.join(compose_dir, "secrets")))

# -- the configurations, checked by ispflowd itself --------------------------------


def check_config(label, yaml_text, env, secret_files):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "ispflow.yaml")
        with open(cfg, "w") as f:
            f.write(yaml_text)
        full = {k: v for k, v in os.environ.items() if not k.startswith("ISPFLOW_")}
        full.update(env)
        # Secret files the container would find mounted: stand-ins here.
        for var, _ in secret_files:
            stand_in = os.path.join(tmp, var.lower())
            with open(stand_in, "w") as f:
                f.write("stand-in")
            full[var] = stand_in
        r = subprocess.run([ispflowd, "--config", cfg, "--check-config"], env=full,
                           capture_output=True, text=True)
        check(f"{label}: ispflowd --check-config accepts it", r.returncode == 0,
              (r.stderr or r.stdout).strip())


cfg_text = cm.get("data", {}).get("ispflow.yaml", "")
cfg = yaml.safe_load(cfg_text) or {}
mounts = {m.get("name"): m.get("mountPath") for m in c.get("volumeMounts", [])}
vols = {v.get("name"): v for v in pod.get("volumes", [])}
check("Deployment: configuration mounted from the ConfigMap at /etc/ispflow/ispflow.yaml",
      vols.get("config", {}).get("configMap", {}).get("name") == cm.get("metadata", {}).get("name")
      and mounts.get("config") == "/etc/ispflow/ispflow.yaml"
      and c.get("args") == ["--config", "/etc/ispflow/ispflow.yaml"])
pw = cfg.get("postgres", {}).get("password_file", "")
secret_mount = mounts.get("secrets", "")
check("ConfigMap: postgres.password_file lies in the mounted Secret",
      bool(pw) and os.path.dirname(pw) == secret_mount
      and os.path.basename(pw) in secret.get("stringData", {}) | secret.get("data", {}), pw)
dep_env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
admin_listen = dep_env.get("ISPFLOW_ADMIN_LISTEN", cfg.get("admin", {}).get("listen", ""))
check("Deployment: admin API listens on all interfaces at the container port",
      admin_listen == f"0.0.0.0:{admin_port}", admin_listen)
check_config("k8s ConfigMap", cfg_text, dep_env, [("ISPFLOW_POSTGRES_PASSWORD_FILE", pw)])

with open(os.path.join(compose_dir, "ispflow.yaml")) as f:
    compose_cfg = f.read()
compose_env = {k: str(v) for k, v in d.get("environment", {}).items()}
secret_vars = [(k, v) for k, v in compose_env.items() if k.endswith("_FILE")]
for var, path in secret_vars:
    check(f"compose: {var} names a secret of ispflowd",
          path.startswith("/run/secrets/") and os.path.basename(path) in d.get("secrets", []), path)
check("compose: configuration mounted at /etc/ispflow/ispflow.yaml",
      any(str(v).endswith(":/etc/ispflow/ispflow.yaml:ro") and str(v).startswith("./ispflow.yaml")
          for v in d.get("volumes", [])))
check_config("compose ispflow.yaml", compose_cfg,
             {k: v for k, v in compose_env.items() if k not in dict(secret_vars)}, secret_vars)

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)

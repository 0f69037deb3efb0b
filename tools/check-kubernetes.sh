#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/kubernetes/ without a cluster:
#   1. kustomization.yaml: its resources all exist, every manifest of the folder is listed,
#      its image override names an image the manifests use, and every object names the
#      kustomization's namespace (so `kubectl apply -f FILE` lands in the same place);
#   2. every object of every listed manifest against the Kubernetes OpenAPI schemas
#      (kubernetes-validate from PyPI, which bundles them: offline once installed), strictly
#      (unknown fields are errors), for each version in KUBE_VERSIONS; a document whose kind
#      has no schema is an error here (the validator itself only warns);
#   3. the TuneFleet containers' command lines: every flag is a real flag of the binary
#      (`coordd --help`, `tune-agent SUBCOMMAND --help`, when .build/release has them),
#      coordd keeps keys on whenever it listens beyond loopback, every file a flag names
#      lies in a volume the container mounts (for a Secret with items, one of its items),
#      and every $(VAR) in the arguments is an env var of the container;
#   4. where kubectl is on the PATH, `kubectl kustomize` renders the folder and the result
#      is validated too;
#   5. a self-check: deliberately broken copies of the folder (a field of the wrong type,
#      an unknown field, an unknown kind, an unlisted manifest, a misspelt flag, a key file
#      no volume provides, coordd without keys) must each be rejected, so this check
#      cannot pass vacuously.
# Prints PASS at the end; exits non-zero with the reasons otherwise.
#   tools/check-kubernetes.sh [DIR]        (default: deploy/kubernetes)
# Environment: KUBE_VERSIONS ("1.29.0 1.37.0"), TUNEFLEET_BIN (.build/release),
# PYTHON (python3).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(cd "${1:-$root/deploy/kubernetes}" && pwd)"
bin_dir="${TUNEFLEET_BIN:-$root/.build/release}"
# 1.29: the oldest release these manifests are meant for; 1.37: the newest schema set that
# the pinned validator ships.
read -r -a kube_versions <<< "${KUBE_VERSIONS:-1.29.0 1.37.0}"
validator_pin="1.37.0"
python="${PYTHON:-python3}"
# A private environment for the validator, used only when the interpreter's own
# site-packages cannot take it (PEP 668); .build-*/ is ignored by git.
venv="$root/.build-kubernetes-validate"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- The validator -----------------------------------------------------------------------

# Exit 0 when $1 can import kubernetes_validate and it has a schema set for every wanted
# Kubernetes version.
validator_ok() {
  "$1" - "${kube_versions[@]}" <<'EOF' 2>/dev/null
import sys
import kubernetes_validate.utils as u
have = {".".join(v.split(".")[:2]) for v in u.all_versions()}
sys.exit(0 if all(".".join(v.split(".")[:2]) in have for v in sys.argv[1:]) else 1)
EOF
}

t_install="$(now)"
if [ -x "$venv/bin/python" ] && validator_ok "$venv/bin/python"; then
  python="$venv/bin/python"
elif ! validator_ok "$python"; then
  echo "installing kubernetes-validate==$validator_pin (PyPI) for $python"
  if ! "$python" -m pip install --quiet --disable-pip-version-check \
      "kubernetes-validate==$validator_pin" 2>"$work/pip.log" || ! validator_ok "$python"; then
    echo "  not into $python's site-packages ($(tail -n 1 "$work/pip.log")); trying a venv: $venv"
    "$python" -m venv "$venv" ||
      { echo "FAIL: cannot create a venv (Debian: apt-get install python3-venv)"; exit 1; }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "kubernetes-validate==$validator_pin" ||
      { echo "FAIL: could not install kubernetes-validate==$validator_pin from PyPI"; exit 1; }
    python="$venv/bin/python"
    validator_ok "$python" ||
      { echo "FAIL: kubernetes-validate has no schemas for ${kube_versions[*]}"; exit 1; }
  fi
fi
install_time="$(elapsed "$t_install")"
validator_version="$("$python" -m kubernetes_validate --version)"
echo "validator: kubernetes-validate $validator_version ($python), ready in $install_time"
echo "schemas:   Kubernetes ${kube_versions[*]} (bundled, strict: unknown fields rejected)"

# --- The checks that are not schema validation (Python: YAML cannot be read in bash) ------

cat > "$work/manifest_checks.py" <<'EOF'
"""Checks of deploy/kubernetes/ beyond the schemas; one FAIL line per problem.

usage: manifest_checks.py kustomization DIR        -> prints the listed resources
       manifest_checks.py containers DIR BIN_DIR   -> TuneFleet command lines
"""
import glob
import os
import re
import subprocess
import sys

import yaml

problems = []


def fail(where, message):
    problems.append(f"FAIL: {where}: {message}")


def documents(path):
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        fail(os.path.basename(path), f"cannot be read as YAML: {e}")
        return []


def load_kustomization(d):
    path = os.path.join(d, "kustomization.yaml")
    docs = documents(path)
    if not docs:
        fail("kustomization.yaml", "missing or empty")
        return {}
    if len(docs) != 1 or not isinstance(docs[0], dict):
        fail("kustomization.yaml", "expected exactly one mapping")
        return {}
    return docs[0]


# Kinds that live outside any namespace (those a deployment folder might hold).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
                  "StorageClass", "PriorityClass", "RuntimeClass", "CustomResourceDefinition"}
KNOWN_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "labels",
                "commonLabels", "commonAnnotations", "patches", "configMapGenerator",
                "secretGenerator", "generatorOptions", "namePrefix", "nameSuffix",
                "replicas", "components"}


def check_kustomization(d):
    k = load_kustomization(d)
    if not k:
        return
    where = "kustomization.yaml"
    if k.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or k.get("kind") != "Kustomization":
        fail(where, "apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization")
    for key in sorted(set(k) - KNOWN_FIELDS):
        fail(where, f"unexpected field '{key}'")
    resources = k.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        fail(where, "resources must be a list of file names")
        return
    for r in sorted({r for r in resources if resources.count(r) > 1}):
        fail(where, f"'{r}' is listed twice")
    for r in resources:
        if not os.path.isfile(os.path.join(d, r)):
            fail(where, f"resource '{r}' does not exist in {d}")
    manifests = {os.path.basename(p) for p in glob.glob(os.path.join(d, "*.yaml"))
                 + glob.glob(os.path.join(d, "*.yml"))} - {"kustomization.yaml"}
    for m in sorted(manifests - set(resources)):
        fail(where, f"'{m}' is in the folder but not in resources: kubectl apply -k would skip it")
    namespace = k.get("namespace")
    images_used = set()
    for r in resources:
        path = os.path.join(d, r)
        if not os.path.isfile(path):
            continue
        for doc in documents(path):
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
                fail(r, "a document without apiVersion and kind")
                continue
            meta = doc.get("metadata") or {}
            name = f"{doc['kind']}/{meta.get('name', '?')}"
            if not meta.get("name"):
                fail(r, f"{doc['kind']} without metadata.name")
            if namespace and doc["kind"] not in CLUSTER_SCOPED and meta.get("namespace") != namespace:
                fail(r, f"{name}: metadata.namespace should be '{namespace}' like the kustomization's")
            for c in pod_containers(doc):
                images_used.add(re.sub(r"[:@].*$", "", c.get("image", "")))
    for image in k.get("images") or []:
        if image.get("name") not in images_used:
            fail(where, f"images: '{image.get('name')}' matches no container image ({sorted(images_used)})")
    for r in resources:
        print(r)


def pod_spec(doc):
    if doc.get("kind") == "Pod":
        return doc.get("spec") or {}
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec")


def pod_containers(doc):
    spec = pod_spec(doc) or {}
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


BINARIES = {"coordd": None, "tune-agent": "serve", "coordctl": None}
# Flags whose value is a file the program reads or a folder it writes.
PATH_FLAGS = {"--key", "--allow", "--server-key", "--db", "--work-dir", "--config",
              "--ready-file", "--events", "--nvrtc", "--cublas"}
help_cache = {}


def real_flags(bin_dir, binary, sub):
    """The long flags `BINARY [SUB] --help` lists, or None when the binary is not built."""
    exe = os.path.join(bin_dir, binary)
    if not os.access(exe, os.X_OK):
        return None
    key = (binary, sub)
    if key not in help_cache:
        cmd = [exe] + ([sub] if sub else []) + ["--help"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        text = out.stdout + out.stderr
        if out.returncode != 0 or "OPTIONS:" not in text:
            fail(binary, f"`{' '.join(cmd[1:])}` did not print its options (exit {out.returncode})")
        help_cache[key] = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    return help_cache[key]


def loopback(endpoint):
    host = re.sub(r"^tcp://", "", endpoint).rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1") or endpoint.startswith(("ipc://", "inproc://"))


def check_paths(where, container, volumes, flag, value):
    if flag == "--server-key" and re.fullmatch(r"\S{40}", value):
        return  # the coordinator's public key itself, not a file
    if not value.startswith("/"):
        fail(where, f"{flag} {value}: use an absolute path inside a mounted volume")
        return
    mounts = [m for m in container.get("volumeMounts") or []
              if value == m["mountPath"] or value.startswith(m["mountPath"].rstrip("/") + "/")]
    if not mounts:
        fail(where, f"{flag} {value}: no volume is mounted there (the image has no such file)")
        return
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volume = volumes.get(mount["name"], {})
    secret = volume.get("secret") or volume.get("configMap")
    if secret and secret.get("items") and value != mount["mountPath"]:
        rel = os.path.relpath(value, mount["mountPath"])
        provided = [i["path"] for i in secret["items"]]
        if rel not in provided:
            fail(where, f"{flag} {value}: volume '{mount['name']}' provides only {provided}")


def check_containers(d, bin_dir):
    k = load_kustomization(d)
    skipped = set()
    checked = 0
    for r in k.get("resources") or []:
        path = os.path.join(d, r)
        if not os.path.isfile(path):
            continue
        for doc in documents(path):
            if not isinstance(doc, dict):
                continue
            spec = pod_spec(doc) or {}
            volumes = {v["name"]: v for v in spec.get("volumes") or []}
            for c in pod_containers(doc):
                where = f"{r}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')} container {c.get('name')}"
                tokens = [str(t) for t in (c.get("command") or []) + (c.get("args") or [])]
                at = next((i for i, t in enumerate(tokens) if os.path.basename(t) in BINARIES), None)
                if at is None:
                    continue  # not a TuneFleet program (an init step)
                binary = os.path.basename(tokens[at])
                rest = tokens[at + 1:]
                sub = BINARIES[binary]
                if rest and not rest[0].startswith("-"):
                    sub = rest.pop(0)
                # --flag value, --flag=value, or a bare switch.
                flags = []
                i = 0
                while i < len(rest):
                    t = rest[i]
                    if not t.startswith("--"):
                        fail(where, f"'{t}' is not a flag or a flag's value")
                        i += 1
                        continue
                    if "=" in t:
                        flags.append(tuple(t.split("=", 1)))
                        i += 1
                    elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                        flags.append((t, rest[i + 1]))
                        i += 2
                    else:
                        flags.append((t, None))
                        i += 1
                known = real_flags(bin_dir, binary, sub)
                if known is None:
                    skipped.add(binary)
                else:
                    checked += 1
                    for flag, _ in flags:
                        if flag not in known:
                            fail(where, f"{binary}{' ' + sub if sub else ''} has no flag {flag}")
                given = dict(flags)
                for flag, value in flags:
                    if flag in PATH_FLAGS and value is not None:
                        check_paths(where, c, volumes, flag, value)
                if binary == "coordd":
                    endpoints = [given.get("--listen", "tcp://127.0.0.1:7700"),
                                 given.get("--control", "tcp://127.0.0.1:7701")]
                    if not all(loopback(e) for e in endpoints):
                        if "--insecure" in given:
                            fail(where, "coordd listens beyond loopback with --insecure: give it --key and --allow")
                        elif not ("--key" in given and "--allow" in given):
                            fail(where, "coordd listens beyond loopback without --key and --allow: it refuses to start")
                if binary == "tune-agent" and sub == "serve":
                    if ("--key" in given) != ("--server-key" in given):
                        fail(where, "tune-agent needs --key and --server-key together")
                env = {e["name"] for e in c.get("env") or []}
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(tokens)):
                    if var not in env:
                        fail(where, f"$({var}) is not an env var of the container (it would stay literal)")
    if skipped:
        print(f"note: {', '.join(sorted(skipped))} not built in {bin_dir}: "
              "flags not compared with --help (the other container checks ran)")
    else:
        print(f"command lines: {checked} containers' flags are flags of the built binaries")


if __name__ == "__main__":
    if sys.argv[1] == "kustomization":
        check_kustomization(sys.argv[2])
    else:
        check_containers(sys.argv[2], sys.argv[3])
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)
EOF

# Validates the YAML files given against every version in kube_versions. The validator
# exits 0 after a mere warning (e.g. a kind it has no schema for): any WARN, ERROR or
# FATAL line counts as a failure here.
validate_schemas() {
  local out rc=0
  out="$("$python" -m kubernetes_validate --strict "${kube_versions[@]/#/-k}" "$@" 2>&1)" || rc=$?
  local bad
  bad="$(grep -E '^(WARN|ERROR|FATAL)|Traceback' <<< "$out" || true)"
  if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
    echo "${bad:-$out}" | sed 's/^/FAIL: schema: /'
    return 1
  fi
  local n
  n="$(grep -c '^INFO .* passed for resource' <<< "$out" || true)"
  echo "schemas: $n object-version pairs valid ($(($# )) files)"
}

# All checks on one folder; prints what failed and returns 1 if anything did.
check_dir() {
  local d="$1" ok=1 resources
  if ! resources="$("$python" "$work/manifest_checks.py" kustomization "$d")"; then
    grep '^FAIL' <<< "$resources" || echo "FAIL: the kustomization check stopped (see above)"
    ok=0
  else
    echo "kustomization: $(wc -l <<< "$resources") resources listed, every manifest of the folder among them"
  fi
  local files=()
  while read -r r; do
    [ -n "$r" ] && [ -f "$d/$r" ] && files+=("$d/$r")
  done < <(grep -v '^FAIL' <<< "$resources" || true)
  if ((${#files[@]} == 0)); then
    echo "FAIL: no manifests to validate"
    ok=0
  elif ! (cd "$d" && validate_schemas "${files[@]##*/}"); then
    ok=0
  fi
  "$python" "$work/manifest_checks.py" containers "$d" "$bin_dir" || ok=0
  if command -v kubectl >/dev/null 2>&1; then
    if ! kubectl kustomize "$d" > "$work/rendered.yaml" 2> "$work/kustomize.log"; then
      sed 's/^/FAIL: kubectl kustomize: /' "$work/kustomize.log"
      ok=0
    elif ! (cd "$work" && validate_schemas rendered.yaml > "$work/rendered.log"); then
      grep '^FAIL' "$work/rendered.log" | sed 's/^FAIL: /FAIL: kubectl kustomize output: /'
      ok=0
    else
      echo "kubectl kustomize: renders $(grep -c '^kind:' "$work/rendered.yaml") objects, all valid"
    fi
  else
    echo "note: no kubectl on the PATH: the kustomize render is not checked"
  fi
  [ "$ok" -eq 1 ]
}

# --- The real folder -----------------------------------------------------------------------

t_check="$(now)"
echo "== $dir"
if ! check_dir "$dir"; then
  echo "FAILED: $dir does not pass (see FAIL lines above)"
  exit 1
fi
real_time="$(elapsed "$t_check")"

# --- Self-check: broken copies must be rejected ---------------------------------------------

t_self="$(now)"
selfcheck_failed=0
# Copies the folder, applies a sed expression to one file (or runs a command in the copy),
# and requires check_dir to fail with a line matching the expected pattern.
expect_rejected() {
  local name="$1" pattern="$2" file="$3" edit="$4" copy="$work/broken-$1"
  rm -rf "$copy" && cp -r "$dir" "$copy"
  if [ "$file" != "-" ] && [ ! -f "$copy/$file" ]; then
    echo "self-check $name: FAIL: $file is not in $dir"
    selfcheck_failed=1
    return
  fi
  if [ "$file" = "-" ]; then (cd "$copy" && eval "$edit"); else sed -i -e "$edit" "$copy/$file"; fi
  if cmp -s <(cat "$dir"/*) <(cat "$copy"/*) && [ "$(ls "$dir")" = "$(ls "$copy")" ]; then
    echo "self-check $name: FAIL: the edit changed nothing (the manifests changed?)"
    selfcheck_failed=1
    return
  fi
  local out
  if out="$(check_dir "$copy" 2>&1)"; then
    echo "self-check $name: FAIL: a broken copy passed"
    selfcheck_failed=1
  elif ! grep -q -E "$pattern" <<< "$out"; then
    echo "self-check $name: FAIL: rejected, but not for the expected reason /$pattern/:"
    grep '^FAIL' <<< "$out" | head -n 3
    selfcheck_failed=1
  else
    echo "self-check $name: rejected as expected: $(grep -m 1 -E "$pattern" <<< "$out" | cut -c 1-150)"
  fi
}
expect_rejected wrong-type "spec.replicas: 'one' is not of type" \
  coordd-statefulset.yaml 's/^  replicas: 1$/  replicas: "one"/'
expect_rejected unknown-field "'replica' was unexpected" \
  coordd-statefulset.yaml 's/^  serviceName: coordd-headless$/&\n  replica: 1/'
expect_rejected unknown-kind "Couldn't find schema for kind DaemonSett" \
  agent-cpu-daemonset.yaml 's/^kind: DaemonSet$/kind: DaemonSett/'
expect_rejected unlisted-manifest "'extra.yaml' is in the folder but not in resources" \
  - 'cp namespace.yaml extra.yaml'
expect_rejected missing-key-file "agent.pem: volume 'keys' provides only" \
  agent-cuda-daemonset.yaml 's#/etc/tunefleet/agent.key#/etc/tunefleet/agent.pem#'
if [ -x "$bin_dir/tune-agent" ]; then
  expect_rejected unknown-flag "has no flag --workdir" \
    agent-cpu-daemonset.yaml 's/- --work-dir$/- --workdir/'
fi
expect_rejected keys-off "beyond loopback without --key and --allow" \
  coordd-statefulset.yaml '/^            - --key$/,/coordd.key$/d'
if [ "$selfcheck_failed" -ne 0 ]; then
  echo "FAILED: the self-check did not reject every broken copy"
  exit 1
fi

echo "time: validator install/import $install_time, checks of the folder $real_time, self-check $(elapsed "$t_self")"
echo PASS

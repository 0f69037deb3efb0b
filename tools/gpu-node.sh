# Shared by the scripts run on a GPU node (tools/gpu-check.sh, tools/gpu-learn.sh); sourced:
#   source tools/gpu-node.sh NAME BUNDLE_DIR
# sets bundle and out ($OUT, or ./NAME-out), log (to $out/NAME.log), elapsed, the list of
# child pids that stop_children ends (and the exit trap, which then packs $out into
# 00-all-outputs.tar.gz: the device tool returns a few files in name order, that one first),
# and start_coordd.
set -uo pipefail
node_name="$1"
t0=$(date +%s)
bundle="$(cd "${2:-.gpu/tunefleet}" && pwd)"
out="${OUT:-$PWD/$node_name-out}"
mkdir -p "$out"
elapsed() { echo $(( $(date +%s) - t0 )); }
log() { echo "[$node_name +$(elapsed)s] $*" | tee -a "$out/$node_name.log"; }
pack() { tar -C "$out" --exclude 00-all-outputs.tar.gz -czf "$out/00-all-outputs.tar.gz" . 2>/dev/null || true; }
pids=()
stop_children() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }
trap 'stop_children; pack' EXIT

# start_coordd DIR [coordd flags...]: coordd on loopback with its database in DIR and its log
# in $out/coordd.log; sets agent_ep and control_ep, or returns 1 when it never gets ready.
start_coordd() {
  local dir="$1"; shift
  "$bundle/coordd" --listen tcp://127.0.0.1:0 --control tcp://127.0.0.1:0 --db "$dir/tunefleet.db" \
    --ready-file "$dir/ready.json" "$@" > "$out/coordd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$dir/ready.json" ] && break; sleep 0.1; done
  if [ ! -s "$dir/ready.json" ]; then log "coordd did not become ready: $(tail -5 "$out/coordd.log")"; return 1; fi
  agent_ep=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["agent"])' "$dir/ready.json")
  control_ep=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$dir/ready.json")
}

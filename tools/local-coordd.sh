# Sourced by the dataset scripts: starts coordd on DIR/collect.db on free loopback ports,
# sets agent_ep and control_ep, and stops it (and any agent in $agent) on exit.
#   . tools/local-coordd.sh "$bin" "$dir" [extra coordd flags...]
local_bin="$1" local_dir="$2"
shift 2
rm -f "$local_dir/ready"
"$local_bin/coordd" --listen tcp://127.0.0.1:0 --control tcp://127.0.0.1:0 --db "$local_dir/collect.db" --batch-size 4 \
  --ready-file "$local_dir/ready" "$@" >>"$local_dir/coordd.log" 2>&1 &
coordd=$!
agent=""
cleanup() { [ -n "$agent" ] && kill "$agent" 2>/dev/null; kill "$coordd" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 600); do
  [ -s "$local_dir/ready" ] && break
  kill -0 "$coordd" 2>/dev/null || { echo "coordd died; see $local_dir/coordd.log" >&2; exit 1; }
  sleep 0.1
done
read -r agent_ep control_ep < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["agent"], r["control"])' "$local_dir/ready")

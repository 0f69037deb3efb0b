#!/usr/bin/env bash
# A real test of deploy/slurm/tune-agents.sbatch on a one-node Slurm cluster made on this machine:
#   1. installs Debian's Slurm and MUNGE when missing (apt-get; needs root),
#   2. starts munged, slurmctld and slurmd by hand from a generated slurm.conf in a temporary
#      folder (no systemd needed; nothing under /etc is touched),
#   3. makes CURVE keys with coordctl keygen (coordd, an agent, an operator) and an allow-list
#      with roles, and starts coordd with them on loopback ports the OS picks,
#   4. checks which agents the launcher plans for a node with two GPUs (a dry run), then
#      submits the batch script with sbatch (a CPU agent: this machine has no GPU), waits for
#      the agent to join, runs a tiny campaign to completion and counts its results,
#   5. stops the job the two ways while the agent measures a second campaign: the drain (the
#      time limit's signal) and a plain scancel; each time the agent must say Goodbye and exit
#      0, coordd must requeue its candidates and the job must end COMPLETED / CANCELLED,
#   6. stops everything it started and checks that nothing of it is left running.
# Prints PASS at the end; any failure exits non-zero with the reason and the logs' tails.
#
#   tools/check-slurm.sh                     # binaries from .build/release
#   TUNEFLEET_BIN=DIR tools/check-slurm.sh   # or from DIR (e.g. an unpacked bundle)
#   KEEP=1 tools/check-slurm.sh              # keep the temporary folder (it is kept on failure)
#
# Ports: coordd binds port 0 and reports what it got in its ready file. Slurm's SlurmctldPort
# and SlurmdPort must be written into slurm.conf, so the script asks the OS for two free ports
# first (a small window in which something else could take them; rerun if that ever happens).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
sbatch_script="$root/deploy/slurm/tune-agents.sbatch"
src_bin="${TUNEFLEET_BIN:-$root/.build/release}"
trials=6
t0=$(date +%s)
say() { echo "[check-slurm +$(($(date +%s) - t0))s] $*"; }

work=""           # the temporary folder
pids=()           # "PID:NAME" of the daemons this script started, stopped in reverse order
jobs_submitted=() # Slurm jobs this script submitted
agent_pids=()     # agents' pids, from the jobs' output
failed=0
made_policy=0     # 1 while this script's own /usr/sbin/policy-rc.d is in place

# Last lines of every log, for a failure.
dump_logs() {
  [ -n "$work" ] || return 0
  local f
  for f in "$work"/*.log "$work"/job-*.out; do
    [ -s "$f" ] || continue
    echo "----- ${f#"$work"/} (last 25 lines)" >&2
    tail -n 25 "$f" >&2
  done
}
die() {
  failed=1
  echo "check-slurm: FAIL: $*" >&2
  dump_logs
  exit 1
}

# poll SECONDS DESCRIPTION COMMAND...: runs COMMAND every 0.2 s until it succeeds, or fails the
# check after SECONDS.
poll() {
  local limit="$1" what="$2"
  shift 2
  local deadline=$(($(date +%s) + limit))
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}

alive() { kill -0 "$1" 2>/dev/null; }

# stop_pid PID NAME: SIGTERM, up to 30 s for it to exit, then SIGKILL.
stop_pid() {
  local pid="$1" name="$2" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do alive "$pid" || break; sleep 0.2; done
  [ "$i" -lt 10 ] || echo "check-slurm: $name (pid $pid) took $((i / 5)) s to stop" >&2
  if alive "$pid"; then
    echo "check-slurm: $name (pid $pid) ignored SIGTERM for 30 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Processes whose command line or environment names the temporary folder: what this script
# started and their children (the daemons, the agents run from $work/bin, and slurmstepd and
# the job's processes, which inherit SLURM_CONF=$work/slurm.conf), and nothing else.
our_processes() {
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    if [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ]; then continue; fi
    cat "$p/cmdline" "$p/environ" 2>/dev/null | tr "\\0" "\\n" | grep -F "$work" >/dev/null && echo "$pid"
  done
  return 0
}

# Our processes other than the daemons in $pids and slurmctld's helper (slurmscriptd, its
# child): the jobs' (slurmstepd, scripts, agents).
stragglers() {
  local p d daemon parent
  for p in $(our_processes); do
    daemon=0
    parent=$(awk '{ print $4 }' "/proc/$p/stat" 2>/dev/null || true)
    for d in ${pids[@]+"${pids[@]}"}; do
      [ "$p" = "${d%%:*}" ] && daemon=1
      [ "$parent" = "${d%%:*}" ] && [ "${d#*:}" = slurmctld ] && daemon=1
    done
    [ "$daemon" = 1 ] || echo "$p"
  done
}

# Stops everything: the job first (slurmstepd outlives slurmd, so jobs must end while slurmd is
# up), then coordd, slurmd, slurmctld and munged, each by its pid.
stop_all() {
  local j i
  # (Slurm's commands retry for many seconds when slurmctld is not there: only while it is.)
  if [ ${#jobs_submitted[@]} -gt 0 ] && alive "${ctld_pid:-0}" && alive "${slurmd_pid:-0}"; then
    for j in "${jobs_submitted[@]}"; do scancel "$j" 2>/dev/null || true; done
    for ((i = 0; i < 300; i++)); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
    # slurmstepd and the job's processes may outlast the job's line in squeue by a moment.
    for ((i = 0; i < 150; i++)); do
      [ -z "$(stragglers)" ] && break
      sleep 0.2
    done
  fi
  jobs_submitted=()
  for j in ${agent_pids[@]+"${agent_pids[@]}"}; do stop_pid "$j" "agent"; done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]%%:*}" "${pids[i]#*:}"; done
  pids=()
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  if [ -n "$work" ]; then
    stop_all
    # Anything of ours still there (a job step that outlived slurmd) goes by its pid.
    local left
    left=$(our_processes)
    if [ -n "$left" ]; then
      echo "check-slurm: still running after the stop, killing: $left" >&2
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null
      rc=1
    fi
    if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "${KEEP:-0}" = 1 ]; then
      echo "check-slurm: logs kept in $work" >&2
    else
      rm -rf "$work"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# --- 1. What it needs --------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "run as root: it starts slurmctld and slurmd, which run jobs as their user"
for exe in coordd tune-agent coordctl; do
  [ -x "$src_bin/$exe" ] || die "no $exe in $src_bin (build with swift build -c release, or set TUNEFLEET_BIN)"
done
command -v python3 >/dev/null || die "python3 is needed (free ports, JSON)"
missing=()
for pkg in slurmctld slurmd slurm-client munge; do
  # (dpkg -s succeeds for a removed package whose configuration files are left.)
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  # Package scripts must not start the daemons (they would run from /etc, outside this
  # test): a policy-rc.d that says no, unless the machine has one already.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } > /tmp/check-slurm-apt.log 2>&1; then
    tail -n 20 /tmp/check-slurm-apt.log >&2
    die "apt-get install ${missing[*]} failed (log: /tmp/check-slurm-apt.log)"
  fi
  rm -f /tmp/check-slurm-apt.log
  [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  made_policy=0
fi

# --- 2. A temporary folder, the binaries, a one-node Slurm ---------------------------------------
work=$(mktemp -d /tmp/check-slurm.XXXXXX)
# munged insists that every folder above its socket can be entered by everyone.
chmod 755 "$work"
# A copy of the binaries: a build running meanwhile cannot replace them under the test.
mkdir -p "$work/bin" "$work/keys" "$work/munge" "$work/state" "$work/spool"
cp "$src_bin/coordd" "$src_bin/tune-agent" "$src_bin/coordctl" "$work/bin/"
bin="$work/bin"
say "working in $work"

node=$(hostname -s)
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)

mungekey --create --keyfile="$work/munge/munge.key" >/dev/null
chmod 755 "$work/munge"
# In the foreground munged logs to its standard error.
munged --foreground --socket="$work/munge/munge.sock" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" > "$work/munged.log" 2>&1 &
munged_pid=$!
pids+=("$munged_pid:munged")
munge_up() { alive "$munged_pid" || die "munged exited"; test -S "$work/munge/munge.sock"; }
poll 10 "munged's socket" munge_up

# The smallest configuration that runs jobs: one node (this machine, on loopback) in one
# partition, MUNGE through the socket above, no cgroups (proctrack/linuxproc follows a job's
# processes by their parents), no accounting, every state file in $work.
cat > "$work/slurm.conf" <<EOF
ClusterName=tunefleetcheck
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.sock
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Seconds between a job's SIGTERM and SIGKILL (Slurm's default); agents need a few.
KillWait=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=check Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"

slurmctld -D -i -f "$SLURM_CONF" > "$work/slurmctld.log" 2>&1 &
ctld_pid=$!
pids+=("$ctld_pid:slurmctld")
ctld_up() { alive "$ctld_pid" || die "slurmctld exited"; scontrol ping 2>/dev/null | grep UP >/dev/null; }
poll 30 "slurmctld to answer" ctld_up
slurmd -D -N "$node" -f "$SLURM_CONF" > "$work/slurmd.log" 2>&1 &
slurmd_pid=$!
pids+=("$slurmd_pid:slurmd")
node_idle() { alive "$slurmd_pid" || die "slurmd exited"; [ "$(sinfo -h -N -n "$node" -o %T 2>/dev/null)" = idle ]; }
poll 30 "node $node to be idle in Slurm" node_idle
say "slurm up: slurmctld on port $ctld_port, slurmd on $slurmd_port, node $node ($cpus CPUs)"

# --- 3. Keys and coordd ---------------------------------------------------------------------------
# keygen prints the key's allow-list line, "ROLE PUBLIC-KEY name": an agent key may use the
# agent socket only, an operator key the control socket only.
"$bin/coordctl" keygen "$work/keys/coordd" > /dev/null 2>&1
"$bin/coordctl" keygen "$work/keys/agent" --role agent 2>/dev/null > "$work/keys/allow.txt"
"$bin/coordctl" keygen "$work/keys/operator" --role operator 2>/dev/null >> "$work/keys/allow.txt"
if ! grep -q '^agent ' "$work/keys/allow.txt" || ! grep -q '^operator ' "$work/keys/allow.txt"; then
  die "coordctl keygen --role did not print ROLE KEY name lines: $(cat "$work/keys/allow.txt")"
fi
OMP_WAIT_POLICY=PASSIVE "$bin/coordd" --listen tcp://127.0.0.1:0 --control tcp://127.0.0.1:0 \
  --db "$work/tunefleet.db" --ready-file "$work/ready.json" --retrain-every 0 \
  --key "$work/keys/coordd.key" --allow "$work/keys/allow.txt" > "$work/coordd.log" 2>&1 &
coordd_pid=$!
pids+=("$coordd_pid:coordd")
read_ready() {
  alive "$coordd_pid" || die "coordd exited"
  [ -s "$work/ready.json" ] || return 1
  read -r agent_ep control_ep < <(python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); print(r["agent"], r["control"])' "$work/ready.json" 2>/dev/null) || return 1
}
poll 20 "coordd's ready file" read_ready
say "coordd: agents on $agent_ep, control on $control_ep (CURVE keys, allow-list with roles)"

ctl() { "$bin/coordctl" "$@" --control "$control_ep" --key "$work/keys/operator.key" --server-key "$work/keys/coordd.pub"; }
status_json() { ctl status --json 2>/dev/null; }

# --- 4. The batch script --------------------------------------------------------------------------
# What a node with two GPUs would start (no GPU here, so only printed): a CPU agent and cuda:0,
# cuda:1, named <node>-<device>.
plan=$(env CUDA_VISIBLE_DEVICES=2,3 TUNEFLEET_DRY_RUN=1 TUNEFLEET_BIN="$bin" \
  TUNEFLEET_COORDINATOR="$agent_ep" bash "$sbatch_script" --node)
for dev in cpu cuda:0 cuda:1; do
  grep -q -- "--device $dev --name $node-$dev\$" <<< "$plan" || die "dry run on 2 GPUs lacks the $dev agent:
$plan"
done
[ "$(grep -c 'would run' <<< "$plan")" -eq 3 ] || die "dry run on 2 GPUs should start 3 agents:
$plan"
say "dry run with CUDA_VISIBLE_DEVICES=2,3 plans $node-cpu, $node-cuda:0, $node-cuda:1"

# submit_agents: submits the batch script (CPU only: no GPU here, and CUDA_VISIBLE_DEVICES is
# cleared so that the caller's cannot add any), waits until the job runs and its agent has
# joined coordd; sets job, job_out and agent_pid.
submit_agents() {
  job=$(env -u CUDA_VISIBLE_DEVICES TUNEFLEET_COORDINATOR="$agent_ep" TUNEFLEET_KEY="$work/keys/agent.key" \
    TUNEFLEET_SERVER_KEY="$work/keys/coordd.pub" TUNEFLEET_BIN="$bin" \
    sbatch --parsable --chdir="$work" --output="$work/job-%j.out" "$sbatch_script") || die "sbatch failed"
  job=${job%%;*}
  jobs_submitted+=("$job")
  job_out="$work/job-$job.out"
  poll 30 "job $job to run" job_running
  # The launcher says "started <node>-cpu (pid N)"; the pid lets the test check that the agent
  # really exits.
  poll 30 "the launcher of job $job to start $node-cpu" agent_started
  agent_pid=$(sed -n "s/.*started $node-cpu (pid \([0-9]*\)).*/\1/p" "$job_out" | head -n 1)
  agent_pids+=("$agent_pid")
  poll 60 "agent $node-cpu of job $job to join coordd" agent_joined
  [ "$(grep -c 'started ' "$job_out")" -eq 1 ] || die "expected exactly one agent (CPU only) in job $job:
$(cat "$job_out")"
  say "job $job: agent $node-cpu (pid $agent_pid) joined coordd"
}
job_state() { squeue -h -j "$job" -o %T 2>/dev/null; }
job_running() { [ "$(job_state)" = RUNNING ]; }
job_gone() { [ -z "$(job_state)" ]; }
agent_started() { grep -q "started $node-cpu (pid [0-9]*)" "$job_out" 2>/dev/null; }
agent_joined() {
  status_json | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if any(a["name"] == sys.argv[1] and a["state"] != "lost" for a in s["agents"]) else 1)' "$node-cpu"
}
agents_connected() {
  status_json | python3 -c '
import json, sys
print(sum(1 for a in json.load(sys.stdin)["agents"] if a["state"] != "lost"))'
}
agent_gone() { ! alive "$agent_pid"; }
goodbye_line="agent $node-cpu left (agent stopped (signal))"
goodbyes() { grep -cF "$goodbye_line" "$work/coordd.log" || true; }

# check_stopped HOW GOODBYES STATE: after the job was told to stop (HOW), it ends in Slurm state
# STATE, its agent exits 0, and coordd has logged GOODBYES Goodbyes of the agent in all.
check_stopped() {
  local how="$1" want="$2" want_state="$3" state
  poll 60 "job $job to end after $how" job_gone
  poll 10 "agent pid $agent_pid to exit" agent_gone
  [ "$(goodbyes)" -eq "$want" ] || die "after $how coordd logged $(goodbyes) Goodbye(s) of $node-cpu, expected $want"
  grep -q "$node-cpu exited with status 0" "$job_out" || die "job $job: the agent did not exit with status 0:
$(cat "$job_out")"
  state=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  [ "$state" = "$want_state" ] || die "job $job ended $state after $how, expected $want_state:
$(cat "$job_out")"
  [ "$(agents_connected)" -eq 0 ] || die "coordd still lists a connected agent after $how"
  say "$how: coordd logged '$goodbye_line', the agent exited 0, job $job $state"
}

submit_agents

# --- 4b. A tiny campaign ----------------------------------------------------------------------------
cat > "$work/tiny.workload" <<'WORKLOAD'
# One small matmul: a few seconds of compiling and timing per candidate.
name: slurm-check
1 matmul m=16 n=32 k=32
WORKLOAD
campaign=$(ctl campaign launch --workload "$work/tiny.workload" --trials "$trials" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["campaign"])') || die "campaign launch failed"
say "campaign $campaign launched: $trials trials of matmul 16x32x32 on the CPU agent"
ctl campaign wait "$campaign" --timeout 180 || die "campaign $campaign did not complete"
"$bin/coordctl" export --db "$work/tunefleet.db" --campaign "$campaign" --format jsonl -o "$work/results.jsonl" ||
  die "export failed"
summary=$(python3 - "$work/results.jsonl" <<'PY'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
statuses = collections.Counter(r.get("status") for r in rows)
agents = sorted({r.get("agent") for r in rows})
print(len(rows), statuses.get("ok", 0), ",".join(map(str, agents)),
      " ".join(f"{k}={v}" for k, v in sorted(statuses.items())))
PY
)
read -r n_rows n_ok agents statuses <<< "$summary"
[ "$n_rows" -eq "$trials" ] || die "campaign $campaign has $n_rows results, expected $trials ($statuses)"
[ "$n_ok" -ge 1 ] || die "no verified (ok) result in campaign $campaign ($statuses)"
[ "$agents" = "$node-cpu" ] || die "results measured by '$agents', expected $node-cpu"
say "campaign $campaign completed: $n_rows results ($statuses), all measured by $agents"

# --- 5. Stopping: the agents say Goodbye and exit 0 --------------------------------------------
# Both ways are tried while the agent is measuring: a second campaign, bigger candidates and more
# of them than the job lives for. Each time the agent stops its batch, sends what it finished,
# says Goodbye, and coordd requeues the rest.
cat > "$work/busy.workload" <<'WORKLOAD'
name: slurm-check-busy
1 matmul m=128 n=128 k=128
WORKLOAD
busy=$(ctl campaign launch --workload "$work/busy.workload" --trials 40 --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["campaign"])') || die "campaign launch failed"
busy_done() {
  status_json | python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin)["campaigns"] if c["id"] == int(sys.argv[1])]
print(c[0]["trials_done"] if c else 0)' "$busy"
}
busy_at_least() { [ "$(busy_done)" -ge "$1" ]; }
# busy_export: exports the busy campaign; sets busy_rows, busy_blamed (results whose error is
# the stop signal rather than the kernel) and busy_statuses.
busy_export() {
  "$bin/coordctl" export --db "$work/tunefleet.db" --campaign "$busy" --format jsonl -o "$work/busy.jsonl" ||
    die "export failed"
  read -r busy_rows busy_blamed busy_statuses < <(python3 - "$work/busy.jsonl" <<'PY'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
statuses = collections.Counter(r.get("status") for r in rows)
blamed = [r for r in rows if r.get("status") != "ok" and any(s in (r.get("error") or "") for s in ("SIGTERM", "SIGKILL", "SIGINT"))]
print(len(rows), len(blamed), " ".join(f"{k}={v}" for k, v in sorted(statuses.items())))
PY
)
}
requeued() { grep -o "$node-cpu left (agent stopped (signal)); [0-9]* candidates requeued" "$work/coordd.log" | tail -n 1; }

# The drain: SIGTERM to the batch shell alone (scancel --batch). Its trap must not pass it to
# srun (which would SIGKILL the agents) but send the drain signal, SIGURG, to the job's steps:
# the very signal `#SBATCH --signal=23@120` sends before the time limit, and that operators send
# with `scancel --signal=23`. Only the launcher reacts to it (SIGTERM to its agents alone), so
# no kernel being timed may be recorded as killed; the job then ends by itself, COMPLETED.
poll 120 "campaign $busy to have 2 results" busy_at_least 2
scancel --batch --signal=TERM "$job"
check_stopped "drain (SIGTERM to the batch shell, SIGURG to the steps)" 1 COMPLETED
busy_export
[ "$busy_blamed" -eq 0 ] || die "the drain stored $busy_blamed result(s) whose error is the signal ($busy_statuses): see $work/busy.jsonl"
say "campaign $busy after the drain: $busy_rows results ($busy_statuses), none blamed on a signal; $(requeued)"

# What an operator may also do: plain scancel, which sends SIGTERM to every process of the job.
submit_agents
before=$(busy_done)
poll 120 "campaign $busy to have 2 more results" busy_at_least $((before + 2))
scancel "$job"
check_stopped "scancel while measuring" 2 CANCELLED
busy_export
say "campaign $busy after scancel: $busy_rows results ($busy_statuses); $(requeued)"
# The worker a kernel is timed in ignores SIGTERM (the agent ends it itself): a plain scancel
# must not blame any kernel.
[ "$busy_blamed" -eq 0 ] || die "plain scancel stored $busy_blamed result(s) blamed on the signal ($busy_statuses)"
say "no kernel blamed for the scancel's SIGTERM"

# --- 6. Stop everything and check that nothing is left -----------------------------------------
stop_all
left=$(our_processes)
[ -z "$left" ] || die "processes left behind: $(for p in $left; do tr '\0' ' ' < "/proc/$p/cmdline"; echo; done)"
say "munged, slurmctld, slurmd and coordd stopped; no process of the test left"
echo "PASS ($(($(date +%s) - t0)) s)"

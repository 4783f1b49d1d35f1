#!/usr/bin/env bash
# The agentos demo (`make run`): the pipeline on a scratch copy of examples/workspace.
# Every step runs the real CLI; nothing outside the scratch directory is touched.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/agentos-demo.XXXXXX")"
ws="$scratch/demo-service"
cp -R "$here/workspace" "$ws"
patches="$here/patches"

bold=$'\033[1m'
dim=$'\033[2m'
reset=$'\033[0m'
if [[ -n "${NO_COLOR:-}" || ! -t 1 ]]; then bold="" dim="" reset=""; fi

step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
say() { printf '%s%s%s\n' "$dim" "$*" "$reset"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$reset"; "$@"; }
# Runs a command that must fail with the given exit code.
expect_exit() {
  local want=$1
  shift
  printf '%s$ %s%s\n' "$bold" "$*" "$reset"
  local code=0
  "$@" || code=$?
  if [[ $code -ne $want ]]; then
    echo "demo: expected exit $want, got $code" >&2
    exit 1
  fi
  say "(exit $code, as expected)"
}
fingerprint() { (cd "$ws" && find . -path ./.agentos -prune -o -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

say "Scratch workspace: $ws"
if command -v git >/dev/null 2>&1; then
  (cd "$ws" && git init -q && git add -A &&
    git -c user.name=demo -c user.email=demo@example.invalid commit -qm "demo base")
fi
cd "$ws"

step "1. init: a policy, the .agentos/ state directory, a .gitignore entry"
run agentos init

step "2. plan a git diff (a rename with edits, a new module, a modified file)"
say "Planning reads the workspace and pins every pre-image by sha256; it never writes a file."
say "Plan files go to .agentos/plans/ by default; here -o keeps them beside the workspace."
before="$(fingerprint)"
run agentos plan "$patches/feature.diff" --intent "move greet() into its own module" -o "$scratch/feature.plan.json"

step "3. show the plan: summary, risk, and the diff a reviewer signs off"
run agentos show "$scratch/feature.plan.json" --diff

step "4. plan a Codex apply_patch envelope (an agent's native output)"
run agentos plan "$patches/tests.codex.patch" --intent "test the greeting" -o "$scratch/tests.plan.json"

step "5. several inputs become one changeset, applied in order"
run agentos plan "$patches/feature.diff" "$patches/tests.codex.patch" --plan-id demo-combined \
  --intent "greeting module with tests" -o "$scratch/combined.plan.json"
after="$(fingerprint)"
if [[ "$before" != "$after" ]]; then
  echo "demo: planning changed the workspace" >&2
  exit 1
fi
say "Workspace files unchanged by planning (fingerprint $after)."

step "6. a plan is sealed: one altered byte is an integrity violation (exit 6)"
sed 's/Hello, {name}!/Hello, {name}?/' "$scratch/combined.plan.json" >"$scratch/tampered.plan.json"
expect_exit 6 agentos show "$scratch/tampered.plan.json"

step "7. a patch that does not fit the files is a conflict (exit 5), named precisely"
cat >"$scratch/stale.diff" <<'EOF'
--- a/src/demo/app.py
+++ b/src/demo/app.py
@@ -5,3 +5,3 @@
 def greet(name):
-    return "Hi, " + name
+    return "Hey, " + name
 
EOF
expect_exit 5 agentos plan "$scratch/stale.diff"

step "8. the WriteGate: check a plan against the policy (ALLOW, exit 0)"
run agentos check "$scratch/combined.plan.json"

step "9. a riskier plan needs a person's approval (NEED_APPROVAL, exit 4)"
say "Deleting a file makes a plan MEDIUM risk. The day-one policy lets MEDIUM plans commit while it"
say "has no health checks; this team wants a person to look at them until it has some:"
run sed -i.orig 's/require_health_checks_for_risk: \[HIGH, CRITICAL\]/require_health_checks_for_risk: [MEDIUM, HIGH, CRITICAL]/' agent/policies/default.yaml
rm -f agent/policies/default.yaml.orig
grep -q 'require_health_checks_for_risk: \[MEDIUM' agent/policies/default.yaml
cat >"$scratch/cleanup.yaml" <<'EOF'
intent: "drop the old guide"
changes:
  - {op: delete, path: docs/guide.md}
EOF
expect_exit 4 agentos plan "$scratch/cleanup.yaml" --plan-id demo-cleanup --author agent-7
expect_exit 4 agentos check demo-cleanup
say "The author may not approve their own plan:"
expect_exit 6 agentos approve demo-cleanup --by agent-7
run agentos approve demo-cleanup --by "Dana Reviewer" --comment "the guide moved to docs/usage.md"
run agentos check demo-cleanup

step "10. what the policy forbids is denied, with every finding explained (DENY, exit 3)"
cat >"$scratch/leak.yaml" <<'EOF'
changes:
  - {op: create, path: .env, content: "DEBUG=1\n"}
  - {op: modify, path: src/demo/app.py, content: "import os\n"}
EOF
expect_exit 3 agentos plan "$scratch/leak.yaml" --plan-id demo-leak
expect_exit 3 agentos approve demo-leak --by "Dana Reviewer"
run agentos policy explain demo-leak

step "11. the policy is tested like code: validate it, run its test cases"
run agentos policy validate
run agentos policy test "$here/../agent/policies/tests" --policy "$here/../agent/policies/default.yaml"

step "12. apply: lock, drift check, journal + backups, atomic writes, verify, commit"
run agentos apply "$scratch/combined.plan.json"
exec_id="$(agentos history --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["executions"][0]["execution_id"])')"

step "13. applying the same plan again changes nothing (idempotent, exit 0)"
run agentos apply "$scratch/combined.plan.json"

step "14. a plan whose files changed after planning is refused (stale, exit 5)"
cat >"$scratch/readme.yaml" <<'EOF'
changes:
  - {op: modify, path: README.md, content: "# demo-service\n\nA greeting service.\n"}
EOF
run agentos plan "$scratch/readme.yaml" --plan-id demo-readme -q
say "Someone edits README.md by hand before the plan is applied:"
cp README.md "$scratch/README.saved"
echo "A hand edit." >>README.md
expect_exit 5 agentos apply demo-readme
cp "$scratch/README.saved" README.md

step "15. roll back the first execution: its inverse goes through the same gate and executor"
run agentos rollback "$exec_id"

step "16. with docs/guide.md back, the approved cleanup applies"
run agentos apply demo-cleanup
run agentos history

step "17. health checks: a change must prove it works before it commits"
say "The policy author adds a check that runs whenever src/ changes:"
python3 - <<'EOF'
from pathlib import Path
policy = Path("agent/policies/default.yaml")
check = """health_checks:
  - name: greeting-works
    command: ["python3", "-c", "import sys; sys.path.insert(0, 'src'); from demo.app import greet; assert greet('Ada') == 'Hello, Ada', greet('Ada')"]
    when_paths: ["src/**"]
    timeout: 20
"""
policy.write_text(policy.read_text().replace("health_checks: []\n", check))
EOF
run agentos policy validate -q
cat >"$scratch/broken.yaml" <<'EOF'
intent: "a friendlier greeting (breaks the contract)"
changes:
  - op: modify
    path: src/demo/app.py
    content: |
      """The service entry point."""

      import sys


      def greet(name):
          return "Hi there, " + name


      def main(argv=None):
          args = sys.argv[1:] if argv is None else argv
          name = args[0] if args else "world"
          print(greet(name))
          return 0
EOF
run agentos plan "$scratch/broken.yaml" --plan-id demo-broken -q
say "The check fails on the new code, so the apply rolls back (exit 1), and the check passes again on the old code:"
expect_exit 1 agentos apply demo-broken
grep -q 'return "Hello, " + name' src/demo/app.py && say "src/demo/app.py is unchanged."
cat >"$scratch/fixed.yaml" <<'EOF'
intent: "document greet()"
changes:
  - op: modify
    path: src/demo/app.py
    content: |
      """The service entry point."""

      import sys


      def greet(name):
          """The greeting for ``name``."""
          return "Hello, " + name


      def main(argv=None):
          args = sys.argv[1:] if argv is None else argv
          name = args[0] if args else "world"
          print(greet(name))
          return 0
EOF
run agentos plan "$scratch/fixed.yaml" --plan-id demo-fixed -q
run agentos apply demo-fixed

step "18. agentos's own state is sealed: a record written by hand is refused (exit 6)"
say "Journals, records, approvals and the audit HEAD carry a seal made with a key kept outside"
say "the workspace (agentos init printed where). A hand-written 'already applied' record:"
python3 - <<'EOF'
import json
from pathlib import Path
forged = {"plan_id": "demo-readme", "checksum": "sha256:" + "0" * 64, "execution_id": "exec-0",
          "status": "committed", "attempts": 1, "updated_at": "2026-01-01T00:00:00+00:00",
          "committed_at": "2026-01-01T00:00:00+00:00"}
Path(".agentos/idempotency/demo-readme.json").write_text(json.dumps(forged))
EOF
expect_exit 6 agentos apply demo-readme
rm .agentos/idempotency/demo-readme.json

step "19. the pipeline as a library: what a new front-end (a hook, a bot) calls"
say "Every front-end runs the same pipeline; here a few lines of Python plan, check and apply:"
cat > "$scratch/bot.py" <<'EOF'
from agentos import pipeline

ctx = pipeline.open_context(".", actor="docs-bot")
manifest = b"""changes:
  - {op: create, path: docs/pipeline.md, content: "Changes go through agentos.\\n"}
"""
inputs = (pipeline.PlanInput(name="bot.yaml", data=manifest),)
planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=inputs, intent="document the door"))
verdict = pipeline.check(ctx, planned.plan).gate.verdict
print(f"{planned.plan.plan_id}: {verdict}")
if verdict in ("ALLOW", "APPROVED"):
    result = pipeline.apply(ctx, [planned.plan]).last
    print(f"{result.execution_id}: {result.status} ({result.message})")
EOF
run cat "$scratch/bot.py"
run python3 "$scratch/bot.py"
run cat docs/pipeline.md

step "20. agents write through agentos: Claude Code's hooks allow, deny, record, undo, find bypasses"
run agentos integrate claude
say "doctor runs the installed hook as Claude Code would, with a canary write into .git/"
say "(HOME points at the scratch directory, so your own ~/.claude settings stay out of it):"
keys="${AGENTOS_KEY_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/agentos/keys}"
HOME="$scratch" AGENTOS_KEY_DIR="$keys" run agentos doctor
# One Claude Code hook event on stdin, as Claude Code sends it: EVENT [TOOL INPUT_JSON].
claude() {
  local doc
  doc=$(python3 -c '
import json, sys
ws, name = sys.argv[1], sys.argv[2]
event = {"session_id": "demo", "cwd": ws, "hook_event_name": name, "tool_use_id": "toolu_demo"}
if len(sys.argv) > 3:
    event.update(tool_name=sys.argv[3], tool_input=json.loads(sys.argv[4]))
print(json.dumps(event))' "$ws" "$@")
  printf '%s$ agentos hook claude%s   <<< %s %s\n' "$bold" "$reset" "$1" "${3:-}"
  printf '%s' "$doc" | agentos hook claude
  echo
}
edit="{\"file_path\": \"$ws/src/demo/app.py\", \"old_string\": \"\\\"Hello, \\\"\", \"new_string\": \"\\\"Hi, \\\"\"}"
claude UserPromptSubmit
say "The agent asks to Edit src/demo/app.py: planned, gated, pre-image backed up, allowed."
claude PreToolUse Edit "$edit"
python3 -c '
from pathlib import Path
app = Path("src/demo/app.py")
app.write_text(app.read_text().replace("\"Hello, \"", "\"Hi, \""))'
say "(the agent's own tool wrote the file; the post-write event records it as an execution)"
claude PostToolUse Edit "$edit"
say "A Write to .env is denied, with the finding as the reason; nothing is written:"
claude PreToolUse Write "{\"file_path\": \"$ws/.env\", \"content\": \"TOKEN=1\\n\"}"
test ! -e .env
say "A shell command writes behind agentos's back; the end of the turn reports it:"
run sh -c 'echo scratch > src/demo/notes.txt'
claude Stop
run agentos sweep
say "The agent's edit is undone through the same pipeline, byte for byte:"
run agentos rollback --last -q
run grep -n 'Hello, ' src/demo/app.py
rm src/demo/notes.txt
run agentos sweep --accept -q

step "21. agents that speak MCP: agentos mcp serves the pipeline as tools, from one process"
say "An MCP client (here the MCP SDK's, as an agent would use it) starts 'agentos mcp' and calls"
say "its drop-in filesystem tools; every write is planned, gated, applied and recorded:"
cat > "$scratch/mcp_agent.py" <<'EOF'
import os

import anyio
from mcp import Client, StdioServerParameters

server = StdioServerParameters(command="agentos", args=["mcp", "-C", "."], env=dict(os.environ))


async def main() -> None:
    async with Client(server) as agent:
        tools = [t.name for t in (await agent.list_tools()).tools]
        print(f"{len(tools)} tools: {', '.join(tools)}")
        edit = {"path": "src/demo/app.py", "edits": [{"oldText": "Hello, ", "newText": "Hey, "}]}
        for name, args in [
            ("edit_file", {**edit, "dryRun": True}),
            ("edit_file", edit),
            ("read_text_file", {"path": ".env"}),
            ("write_file", {"path": ".env", "content": "TOKEN=1\n"}),
            ("rollback", {"last": True}),
        ]:
            result = await agent.call_tool(name, args)
            status = "error" if result.is_error else "ok"
            print(f"\n-> {name} {args.get('path', '')} [{status}]\n{result.content[0].text}")


anyio.run(main)
EOF
if python3 -c 'import mcp' 2>/dev/null; then
  run python3 "$scratch/mcp_agent.py"
  run grep -n 'Hello, ' src/demo/app.py
else
  say "(skipped: the MCP SDK is not installed; pip install 'agentos[mcp]')"
fi

step "22. agentos serve: the same hook answers over loopback HTTP, with no start-up per event"
say "One long-lived server answers Claude Code's http hooks (agentos integrate claude --http);"
say "every request needs the bearer token kept in .agentos/serve/token (0600):"
printf '%s$ agentos serve --port 0 --json -q &%s\n' "$bold" "$reset"
agentos serve --port 0 --json -q >"$scratch/serve.json" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [[ -s "$scratch/serve.json" ]] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '"ok": *true' "$scratch/serve.json" 2>/dev/null; then
  echo "demo: agentos serve did not start: $(cat "$scratch/serve.json" 2>/dev/null)" >&2
  exit 1
fi
cat > "$scratch/http_agent.py" <<'EOF'
import http.client
import json
import pathlib
import sys

started = json.loads(pathlib.Path(sys.argv[1]).read_text())["result"]
token = pathlib.Path(started["token_file"]).read_text().strip()
ws = started["workspace"]
print(f"listening on {started['url']}")


def post(name, tool=None, tool_input=None, token=token, **more):
    event = {"session_id": "demo", "cwd": ws, "hook_event_name": name, "tool_use_id": "toolu_h"}
    if tool:
        event.update(tool_name=tool, tool_input=tool_input, **more)
    conn = http.client.HTTPConnection("127.0.0.1", started["port"], timeout=30)
    conn.request("POST", "/hook/claude", json.dumps(event), {"Authorization": f"Bearer {token}"})
    reply = conn.getresponse()
    print(f"\n-> {name} {tool or ''} [HTTP {reply.status}]\n{reply.read().decode().strip()}")


env = {"file_path": f"{ws}/.env", "content": "TOKEN=1\n"}
post("PreToolUse", "Write", env, token="not-the-token")
post("PreToolUse", "Write", env)
extra = {"file_path": f"{ws}/src/demo/extra.py", "content": "EXTRA = 1\n"}
post("PreToolUse", "Write", extra)
pathlib.Path(extra["file_path"]).write_text(extra["content"])  # the agent's own tool writes
post("PostToolUse", "Write", extra, tool_response={})
EOF
run python3 "$scratch/http_agent.py" "$scratch/serve.json"
say "SIGTERM stops the server cleanly (exit 0); the recorded write is undone like any other:"
kill -TERM "$serve_pid"
wait "$serve_pid"
trap - EXIT
run agentos rollback --last -q
test ! -e src/demo/extra.py
test ! -e .env

if command -v git >/dev/null 2>&1; then
  step "23. CI: plan what a branch changes, straight from git, and apply it as a commit"
  say "A CI job plans a pull request from git's own diff (pre-images pinned to the base commit),"
  say "and records the approved apply as one commit with agentos's trailers (docs/ci.md)."
  export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.invalid
  git add -A && git -c user.name=demo -c user.email=demo@example.invalid commit -qm "the demo so far"
  base="$(git symbolic-ref --short HEAD)"
  git checkout -q -b feature
  printf '\nCI applies approved changes as commits.\n' >>README.md
  git -c user.name=demo -c user.email=demo@example.invalid commit -qam "README: a line about CI"
  git checkout -q "$base"
  run agentos plan --git "$base..feature" --plan-id demo-ci --intent "README: a line about CI" --author "Dana Reviewer <dana@example.invalid>"
  run agentos apply demo-ci --commit
  run git log -1 --format='%an <%ae>%n%s%n%n%(trailers)'
  say "Run again (a CI re-run): already applied, no new commit:"
  before_ci="$(git rev-parse HEAD)"
  run agentos apply demo-ci --commit -q
  test "$(git rev-parse HEAD)" = "$before_ci"
fi

pg_bindir=""
# pg_ctl on PATH first, else Debian's newest.
for candidate in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" \
  $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
  if [[ -x "$candidate/pg_ctl" && -x "$candidate/initdb" ]]; then pg_bindir="$candidate" && break; fi
done
if command -v git >/dev/null 2>&1 && [[ -n "$pg_bindir" ]] && python3 -c 'import psycopg' 2>/dev/null; then
  step "24. many runners: a queue in PostgreSQL, workers that push to one remote"
  say "A scratch PostgreSQL holds the shared state and the queue; git carries the changes: each"
  say "worker applies in its own clone and pushes (docs/scale.md)."
  # As root the server runs as postgres, which must reach its directory: /tmp, not a
  # private TMPDIR.
  pg_parent="${TMPDIR:-/tmp}"
  if [[ "$(id -u)" = 0 ]]; then pg_parent=/tmp; fi
  pg="$(mktemp -d "$pg_parent/agentos-demo-pg.XXXXXX")"
  as_pg() { if [[ "$(id -u)" = 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
  if [[ "$(id -u)" = 0 ]]; then chown postgres: "$pg"; fi
  trap 'as_pg "$pg_bindir/pg_ctl" -D "$pg/data" -m immediate -s stop 2>/dev/null || true; rm -rf "$pg"' EXIT
  as_pg "$pg_bindir/initdb" -D "$pg/data" -A trust -U postgres >/dev/null
  as_pg "$pg_bindir/pg_ctl" -D "$pg/data" -l "$pg/log" -w -s \
    -o "-c listen_addresses='' -k $pg -c fsync=off" start
  outer_store="${AGENTOS_STORE-}"
  export AGENTOS_STORE="postgresql://postgres@/postgres?host=$pg"
  run agentos store migrate
  git clone -q --bare . "$scratch/remote.git"
  git clone -q "$scratch/remote.git" "$scratch/planner"
  git clone -q "$scratch/remote.git" "$scratch/runner-1"
  cd "$scratch/planner"
  trunk="$(git symbolic-ref --short HEAD)"
  git checkout -q -b notes && mkdir -p docs && printf '# Runners\n\nWorkers apply queued plans.\n' >docs/runners.md
  git add docs/runners.md && git -c user.name=demo -c user.email=demo@example.invalid commit -qm "docs: runners"
  git checkout -q -b readme-a "$trunk" && printf '\nOne remote, many runners.\n' >>README.md
  git -c user.name=demo -c user.email=demo@example.invalid commit -qam "README: runners"
  git checkout -q -b readme-b "$trunk" && printf '\nA second view of the README.\n' >>README.md
  git -c user.name=demo -c user.email=demo@example.invalid commit -qam "README: another line"
  git checkout -q "$trunk"
  run agentos plan -q --git "$trunk..notes" --plan-id q-notes --intent "docs: runners"
  run agentos plan -q --git "$trunk..readme-a" --plan-id q-readme-a --intent "README: runners"
  run agentos plan -q --git "$trunk..readme-b" --plan-id q-readme-b --intent "README: another line"
  say "Queued once each, whoever submits them and however often:"
  for id in q-notes q-readme-a q-readme-b q-notes; do run agentos queue submit "$id" -q; done
  say "One worker process with two slots (each in a checkout of its own) drains the queue;"
  say "the two README plans change one file from one base, so one lands and one ends stale:"
  run agentos -C "$scratch/runner-1" worker --drain --concurrency 2 --retry-delay 0 --poll 0.1
  run agentos queue list
  run git -C "$scratch/remote.git" log --format='%h %s  [%(trailers:key=Agentos-Plan,valueonly,separator=)]' -4
  test "$(git -C "$scratch/remote.git" log --format=%H --grep='^Agentos-Plan: q-notes$' | wc -l)" = 1
  run agentos audit verify --store -q
  cd "$ws"
  if [[ -n "$outer_store" ]]; then export AGENTOS_STORE="$outer_store"; else unset AGENTOS_STORE; fi
else
  step "24. many runners (skipped: needs git, PostgreSQL's pg_ctl and psycopg; docs/scale.md)"
fi

step "25. the audit trail: every step above, hash-chained, its head sealed and anchored"
run agentos audit show --limit 12
say "CI keeps the head where the workspace cannot reach it, and checks it later:"
run agentos audit anchor -o "$scratch/audit.anchor"
run agentos audit verify --anchor "$scratch/audit.anchor"

printf '\n%sDemo complete.%s Scratch workspace kept at %s\n' "$bold" "$reset" "$ws"

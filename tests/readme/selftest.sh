#!/bin/sh
# check-blocks.sh must pass a good block and fail a failing, a hanging or a
# missing one (so that the README test can fail at all).
set -eu

top=${srcdir:-.}
check="$top/tests/readme/check-blocks.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/xlmig-readme-self.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
fence='```'

cat >"$T/good.md" <<MD
text
<!-- test: good -->

$fence
echo hello > out.txt
grep -q hello out.txt
echo "session \$(ps -o sid= -p \$\$ | tr -d ' ')" >&2
sleep 30 &
MD
cat >"$T/bad.md" <<MD
<!-- test: bad -->
$fence
true
false
echo never
$fence
MD
cat >"$T/hang.md" <<MD
<!-- test: hang -->
$fence
sleep 60
$fence
MD
cat >"$T/nofence.md" <<MD
<!-- test: lost -->
some prose, then no block
MD
printf 'no markers here\n' >"$T/none.md"
# The good block's fence closes after a backgrounded sleep, which the
# check must stop rather than wait for.
printf '%s\n' "$fence" >>"$T/good.md"

sh "$check" "$T/good.md" >"$T/o1" 2>&1 || fail "good block failed: $(cat "$T/o1")"
grep -q "block 'good': ok" "$T/o1" || fail "no ok line: $(cat "$T/o1")"
# The block wrote its session id; nothing of that session may be left.
sid=$(sed -n 's/^ *session //p' "$T/o1")
[ -n "$sid" ] || fail "no session id reported: $(cat "$T/o1")"
sleep 0.3
left=$(ps -eo sid=,stat=,args= | awk -v s="$sid" '$1 == s && $2 !~ /^Z/')
[ -z "$left" ] || fail "the block left running: $left"
if sh "$check" "$T/bad.md" >"$T/o2" 2>&1; then fail "a failing block passed"; fi
grep -q "exited 1" "$T/o2" || fail "no exit status: $(cat "$T/o2")"
grep -q "never" "$T/o2" && grep -q "^    never" "$T/o2" && fail "ran past the failure"
start=$(date +%s)
if README_BLOCK_TIMEOUT=2 sh "$check" "$T/hang.md" >"$T/o3" 2>&1; then
    fail "a hanging block passed"
fi
[ $(($(date +%s) - start)) -lt 20 ] || fail "the timeout did not stop the block"
grep -q "still running after 2s" "$T/o3" || fail "no timeout message: $(cat "$T/o3")"
if sh "$check" "$T/nofence.md" >"$T/o4" 2>&1; then fail "a marker without a block passed"; fi
rc=0; sh "$check" "$T/none.md" >"$T/o5" 2>&1 || rc=$?
[ "$rc" = 77 ] || fail "no marker: exit $rc, not 77 (skip)"
echo "check-blocks.sh: passes a good block, fails a failing, hanging or missing one"

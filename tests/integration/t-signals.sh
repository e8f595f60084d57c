#!/bin/sh
# Ctrl-C / SIGTERM: before the hand-off both sides say in one line what
# happened (the guest runs on at the source, nothing kept at the
# destination); after it, the side signalled says what remains and the
# migration completes; a receiver still waiting for its sender stops at
# once.
. "${XLMIG_TESTS:-$(dirname "$0")}/lib.sh"

mkimage src 32M 16M
start_source src --write-rate 2M

# SIGINT to the sender during PUSH.
start_receiver
send_bg --bandwidth 4M --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" progress push
kill -INT "$SEND_PID"
wait_sender
wait_receiver
note "sender: $(grep '^xlmig:' "$T/sender.log")"
note "receiver: $(grep '^xlmig:' "$T/receiver.log")"
[ "$SEND_RC" = 1 ] && [ "$RECV_RC" = 1 ] || fail "exit statuses $SEND_RC/$RECV_RC, not 1/1"
[ "$(grep -c '^xlmig:' "$T/sender.log")" = 1 ] || fail "not one line from the sender"
grep -q '^xlmig: migration cancelled (SIGINT) before the hand-off: the guest kept running here' \
    "$T/sender.log" || fail "the sender does not say what happened"
[ "$(grep -c '^xlmig:' "$T/receiver.log")" = 1 ] || fail "not one line from the receiver"
grep -q '^xlmig: the source cancelled the migration before the hand-off: nothing kept here' \
    "$T/receiver.log" || fail "the receiver does not say what happened"
sleep 0.3
assert_dest_clean
assert_source_intact src

# A receiver waiting for its sender: SIGTERM ends it at once.
start_receiver
kill -TERM "$RECV_PID"
wait_receiver
[ "$RECV_RC" = 1 ] || fail "the waiting receiver exited $RECV_RC"
grep -q 'cancelled while waiting for the sender: nothing was created' \
    "$T/receiver.log" || fail "the waiting receiver said: $(cat "$T/receiver.log")"

# After the hand-off: SIGTERM to the receiver, then SIGINT to the sender,
# during post-copy (no dirty pass: the whole dirty set goes post-copy).
rm -rf "$T/dst"
start_receiver
send_bg --bandwidth 4M --max-passes 0 --vbd "sim:$T/src.sock"
wait_event "$T/sender.log" phase postcopy
kill -TERM "$RECV_PID"
sleep 0.6
kill -INT "$SEND_PID"
wait_sender
wait_receiver
note "receiver: $(grep '^xlmig:' "$T/receiver.log" | cut -c1-120)"
note "sender: $(grep '^xlmig:' "$T/sender.log" | cut -c1-120)"
[ "$SEND_RC" = 0 ] && [ "$RECV_RC" = 0 ] ||
    fail "post-copy did not complete ($SEND_RC/$RECV_RC)"
grep -q '^xlmig: SIGTERM after the hand-off: the guest runs here; [0-9]* block(s) are still to come' \
    "$T/receiver.log" || fail "the receiver does not say what remains"
grep -q '^xlmig: SIGINT after the hand-off: the guest runs on the destination; of the [0-9]* block(s) .* only in the source image' \
    "$T/sender.log" || fail "the sender does not say what remains"
verify "$T/dst/xvda.sock"

#!/bin/sh
echo "cmocka not found: install libcmocka-dev (see .ci/deps.sh)" >&2
exit 1

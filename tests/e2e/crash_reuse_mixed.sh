#!/usr/bin/env bash
# crash_reuse.sh's mixed variant: every odd request asks the function to crash late
# (throw from a timer, the runtime exits), every even one must succeed on a fresh
# environment, never on the dying one.
CRASH_REUSE_MIXED=1 exec bash "$(dirname "$0")/crash_reuse.sh"

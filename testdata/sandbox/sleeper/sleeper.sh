#!/bin/sh
# Test sample: sleeps past a naive sandbox's time budget, beacons to a raw IP,
# then blocks forever.
sleep 600
curl -s --max-time 2 http://198.51.100.23/beacon || true
tail -f /dev/null

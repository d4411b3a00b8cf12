#!/bin/sh
# Greets the user; given a GitHub login, prints that user's public profile.
set -eu

if [ "$#" -eq 0 ]; then
	echo "Hello, world!"
	exit 0
fi

case "$1" in
'' | -* | *[!A-Za-z0-9-]*)
	echo "hello: not a GitHub login: $1" >&2
	exit 2
	;;
esac

echo "Hello, $1!"
curl -fsS --max-time 10 "https://api.github.com/users/$1"

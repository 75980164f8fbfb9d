#!/bin/sh
# Install every Debian package that building, testing and the demo need.
# Idempotent: packages already installed are not touched, and when nothing is
# missing it returns at once without calling apt.
set -eu

PACKAGES="
build-essential cmake pkg-config
libevent-dev libinih-dev libjansson-dev libssl-dev libcmocka-dev
libfuse3-dev fuse3 libzstd-dev libxxhash-dev libsqlite3-dev libsodium-dev
libnftables-dev nftables
iproute2 iputils-ping procps util-linux mandoc jq
"

missing=""
for pkg in $PACKAGES; do
	# dpkg-query prints "install ok installed" only for a fully installed package.
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	"install ok installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the list is wanted
apt-get install -y -qq --no-install-recommends $missing

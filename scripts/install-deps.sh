#!/bin/sh
# Install every Debian package that building, testing and the demo need.
# Idempotent: packages already installed are not touched, and when nothing is
# missing it returns at once without calling apt.
set -eu

PACKAGES="
build-essential cmake pkg-config
libevent-dev libinih-dev libjansson-dev libssl-dev libcmocka-dev
libfuse3-dev fuse3 libzstd-dev libxxhash-dev libsqlite3-dev libsodium-dev
libnftables-dev nftables libsystemd-dev dbus-daemon
libpq-dev postgresql
iproute2 iputils-ping procps util-linux mandoc jq attr openssl
mariadb-server libmariadb-dev
"

# One dpkg-query for the whole list: "installed:cmake not-installed:jq ...".
# db:Status-Status is "installed" only for a fully installed package, and,
# unlike ${Status}, stays so for a package on hold ("hold ok installed"),
# which must not send every run to apt. Names dpkg has never seen print
# nothing (and a complaint on stderr), so they count as missing.
# shellcheck disable=SC2016,SC2086  # ${...} is dpkg's format; the list splits on purpose
installed=" $(dpkg-query -W -f='${db:Status-Status}:${Package} ' $PACKAGES 2>/dev/null || true) "
missing=""
for pkg in $PACKAGES; do
	case $installed in
	*" installed:$pkg "*) ;;
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

# The mariadb plug-in's test runs a private server of its own. Debian's
# postinst may have started the distribution's service (it cannot where
# policy-rc.d forbids it, as in most containers): stop what this install
# started, and only that.
case " $missing " in
*" mariadb-server "*)
	if [ -x /etc/init.d/mariadb ] && /etc/init.d/mariadb status >/dev/null 2>&1; then
		echo "install-deps: stopping the MariaDB service the package started"
		/etc/init.d/mariadb stop
	fi
	;;
esac

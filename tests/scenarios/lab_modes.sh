# Each lab mode comes up with the right nodes, every engine answers naming
# itself and the mode, and `lab down` leaves no namespace, process or mount.
source "$(dirname "$0")/../lib/lib.sh"
need_root

declare -A nodes=(
	[ha]="primary secondary"
	[dr]="primary secondary"
	[ha+dr]="primary secondary tertiary"
)
plan 32

for mode in ha dr ha+dr; do
	existed=$(ls -d /etc/lifeline /var/lib/lifeline /var/lib/lifeline-sample /etc/lifeline-sample 2>/dev/null)
	ok "$mode: lab up" lab up --mode "$mode"
	for node in ${nodes[$mode]}; do
		st=$(lab exec "$node" -- lifeline status --json 2>&1)
		like "$st" "\"self\": *\"$node\"" "$mode: $node's engine answers as $node"
		like "$st" "\"mode\": *\"${mode//+/\\+}\"" "$mode: $node's engine runs mode $mode"
	done
	prefix=$(lab_prefix)
	want=$(for n in switch client ${nodes[$mode]}; do echo "$prefix-$n"; done | sort)
	is "$(lab_namespaces | tr '\n' ' ')" "$(echo "$want" | tr '\n' ' ')" "$mode: one namespace per node, the client and the switch"
	inodes=$(for ns in $(lab_namespaces); do ns_inode "$ns"; done)

	ok "$mode: lab down" lab down
	is "$(ip netns list | awk '{print $1}' | grep -c -- "^$prefix-")" 0 "$mode: no namespace left"
	# shellcheck disable=SC2086
	is "$(pids_in_netns $inodes | tr '\n' ' ')" "" "$mode: no process left"
	now=$(ls -d /etc/lifeline /var/lib/lifeline /var/lib/lifeline-sample /etc/lifeline-sample 2>/dev/null)
	if [ -z "$(lab_mounts)" ] && [ ! -e "$LAB_DIR" ] && [ "$now" = "$existed" ]; then
		pass "$mode: mounts, mount points and the lab folder gone"
	else
		fail "$mode: mounts, mount points and the lab folder gone"
		diag "mounts: $(lab_mounts)" "mount points before: $existed" "after: $now"
	fi
done

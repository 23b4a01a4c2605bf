# shellcheck shell=bash
# Small filesystems for disk-full tests, unmounted on any exit.
#
#   . tests/lib/mounts.sh     # after tap.sh (keeps its EXIT trap, after ours)
#   small_fs DIR SIZE         # a filesystem of SIZE at DIR: tmpfs, or if that is
#                             # not permitted a loop-mounted ext2 image; 1 if neither

mounts=()
cleanup_mounts() {
	local m
	for m in "${mounts[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
}
_mounts_prev_trap=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT$//")
# shellcheck disable=SC2064 # expand the previous trap now
trap "cleanup_mounts; $_mounts_prev_trap" EXIT

small_fs() {
	local dir=$1 size=$2
	mkdir -p "$dir"
	if mount -t tmpfs -o "size=$size" tmpfs "$dir" 2>/dev/null; then
		mounts+=("$dir")
		return 0
	fi
	truncate -s "$size" "$dir.img" && mkfs.ext2 -F -q "$dir.img" >/dev/null 2>&1 &&
		mount -o loop "$dir.img" "$dir" 2>/dev/null || return 1
	mounts+=("$dir")
	rm -rf "$dir/lost+found"
}

# bash completion for ferry(1)                                  -*- shell-script -*-
#
# Installed as .../bash-completion/completions/ferry; or source it by hand:
#   . completion/ferry.bash
# Completes commands, each command's options and their values, location
# prefixes (docker-archive: oci: oci-archive: docker://) and local paths,
# also after a prefix (oci:some/dir). Needs nothing from bash-completion.

_ferry_commands="ls convert push verify tag untag prune inspect inventory login logout batch serve help"

_ferry_reg_opts="--creds --cert-dir --tls-verify --tls-verify=false --insecure-registry --retries --stall-timeout --debug"
_ferry_retag_opts="--tag --add-tag --registry --prefix --repository --image --platform --manifest-format --no-referrers --referrer-type"
_ferry_progress_opts="--progress --quiet -q"
_ferry_list_opts="--images-from --keep-going --lock"

# _ferry_options COMMAND: the options COMMAND takes.
_ferry_options() {
	case $1 in
	ls) echo "--json --help $_ferry_reg_opts" ;;
	convert) echo "--format --compress --keep-zstd --have --base --split --sign-key $_ferry_list_opts $_ferry_retag_opts $_ferry_progress_opts --json --help $_ferry_reg_opts" ;;
	push) echo "--compress --base $_ferry_list_opts $_ferry_retag_opts $_ferry_progress_opts --json --help $_ferry_reg_opts" ;;
	verify) echo "--key --strict --base --json $_ferry_progress_opts --help $_ferry_reg_opts" ;;
	inspect) echo "--raw --config --json --platform --help $_ferry_reg_opts" ;;
	login) echo "--username -u --password-stdin --help $_ferry_reg_opts" ;;
	batch) echo "--jobs -j --shard --force --state --json $_ferry_progress_opts --help" ;;
	serve) echo "--listen --tls-cert --tls-key --htpasswd --registry --prefix --repository --json $_ferry_progress_opts --help" ;;
	prune) echo "--dry-run -n --json --quiet -q --help" ;;
	inventory) echo "--output -o --json --help $_ferry_reg_opts" ;;
	tag | untag | logout) echo "--help" ;;
	esac
}

# _ferry_paths WORD: files and directories starting with WORD (directories with a slash).
_ferry_paths() {
	local p
	while IFS= read -r p; do
		[ -n "$p" ] || continue
		if [ -d "$p" ]; then
			printf '%s/\n' "${p%/}"
		else
			printf '%s\n' "$p"
		fi
	done < <(compgen -f -- "$1")
}

# _ferry_locations WORD: prefixes, paths, and paths after a prefix.
_ferry_locations() {
	local cur=$1 pre
	case $cur in
	docker://*) return ;; # a registry reference: nothing to offer
	docker-archive:* | oci-archive:* | oci:*)
		pre=${cur%%:*}:
		_ferry_paths "${cur#*:}" | sed "s|^|$pre|"
		return
		;;
	esac
	for pre in docker-archive: oci: oci-archive: docker://; do
		[[ $pre == "$cur"* ]] && printf '%s\n' "$pre"
	done
	_ferry_paths "$cur"
	[[ - == "$cur"* ]] && printf '%s\n' -
}

# _ferry_values OPTION WORD: the values OPTION takes; status 1 if it takes none.
_ferry_values() {
	local opt=$1 cur=$2
	case $opt in
	--format) compgen -W "docker-archive oci oci-archive" -- "$cur" ;;
	--compress) compgen -W "none gzip zstd gzip:1 gzip:6 gzip:9 zstd:1 zstd:3 zstd:19" -- "$cur" ;;
	--manifest-format) compgen -W "oci docker" -- "$cur" ;;
	--progress) compgen -W "auto bar plain none" -- "$cur" ;;
	--tls-verify) compgen -W "true false" -- "$cur" ;;
	--platform) compgen -W "linux/amd64 linux/arm64 linux/arm/v7 linux/386 linux/ppc64le linux/s390x" -- "$cur" ;;
	--cert-dir) compgen -d -- "$cur" | sed 's|$|/|' ;;
	--state | --tls-cert | --tls-key | --htpasswd | --key | --sign-key | --images-from | --lock | --output | -o) _ferry_paths "$cur" ;;
	--have | --base) _ferry_locations "$cur" ;;
	--split) compgen -W "1M 100M 1G fat32 dvd bd" -- "$cur" ;;
	--tag | --add-tag | --registry | --prefix | --repository | --image | --referrer-type | --creds | --insecure-registry | \
		--retries | --stall-timeout | --jobs | -j | --shard | --username | -u | --listen) : ;; # free text
	*) return 1 ;;
	esac
	return 0
}

_ferry() {
	local line words cur prev cmd
	# Words from the line itself: readline splits "oci:dir" at the colon, we do not.
	if [ -n "${COMP_LINE+set}" ]; then
		line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
		read -ra words <<<"$line"
		[[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]] && words+=("")
	else
		words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
	fi
	cur=${words[${#words[@]} - 1]}
	prev=
	[ ${#words[@]} -ge 2 ] && prev=${words[${#words[@]} - 2]}
	local -a cands=()
	if [ ${#words[@]} -le 2 ]; then
		mapfile -t cands < <(compgen -W "$_ferry_commands --help --version" -- "$cur")
	else
		cmd=${words[1]}
		if [ "$cmd" = help ]; then
			[ ${#words[@]} -eq 3 ] && mapfile -t cands < <(compgen -W "$_ferry_commands" -- "$cur")
		elif [[ $cur == --*=* ]] && _ferry_values "${cur%%=*}" "${cur#*=}" >/dev/null; then
			mapfile -t cands < <(_ferry_values "${cur%%=*}" "${cur#*=}" | sed "s|^|${cur%%=*}=|")
		elif _ferry_values "$prev" "$cur" >/dev/null; then
			mapfile -t cands < <(_ferry_values "$prev" "$cur")
		elif [[ $cur == -* ]]; then
			# shellcheck disable=SC2046
			mapfile -t cands < <(compgen -W "$(_ferry_options "$cmd")" -- "$cur")
		else
			case $cmd in
			batch) mapfile -t cands < <(_ferry_paths "$cur"; [[ - == "$cur"* ]] && echo -) ;;
			login | logout) ;;
			ls | convert | push | verify | tag | untag | prune | inspect | inventory)
				mapfile -t cands < <(_ferry_locations "$cur") ;;
			serve) # files and layouts only: no registry, no stdin
				mapfile -t cands < <(_ferry_locations "$cur" | grep -vx -e - -e docker://) ;;
			esac
		fi
	fi
	# Readline replaces only what follows the last word break (":" and "=" among them).
	local brk=${cur%"${cur##*[:=]}"} c nospace=
	[[ $COMP_WORDBREAKS == *:* || $COMP_WORDBREAKS == *=* ]] || brk=
	COMPREPLY=()
	for c in "${cands[@]}"; do
		[[ $c == */ || $c == *: || $c == *= || $c == docker:// ]] && nospace=1
		COMPREPLY+=("${c#"$brk"}")
	done
	if [ -n "$nospace" ]; then
		compopt -o nospace 2>/dev/null
	fi
	return 0
}

complete -F _ferry ferry

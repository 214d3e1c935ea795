#!/usr/bin/env bash
# Builds the e2e Pulumi toolchain with `go` from the Go module proxy (no GitHub, no release
# downloads), into a cache directory outside the repository keyed by e2e/versions.env:
#
#   ${KVM_E2E_TOOLS_DIR:-$HOME/.cache/kvm-in-a-pod/e2e-tools}/<key>/bin
#     pulumi                        CLI (github.com/pulumi/pulumi/pkg/v3)
#     pulumi-language-python        Python language host (upstream or e2e/standin, see versions.env)
#     pulumi-language-python-exec   its executor script (from github.com/pulumi/pulumi/sdk/v3)
#     pulumi-resource-kubernetes    kubernetes provider (github.com/pulumi/pulumi-kubernetes/provider/v4)
#     pulumi-resource-command       command provider (upstream or e2e/standin, see versions.env)
#     macvtap                       macvtap CNI (github.com/kubevirt/macvtap-cni ./cmd/cni), best effort
#
# Usage: BIN=$(e2e/build-tools.sh | tail -n 1)
# stdout: one summary line per tool (build time, size), then the bin dir as the LAST line.
# stderr: progress. Build logs: <key>/logs/<tool>.log. A tool whose binary exists is skipped;
# binaries are built to a temp name and mv'ed into place. Exits non-zero if a required tool
# (all but macvtap) cannot be built.
#
# Needs: bash, coreutils, go (>= 1.26; /usr/local/go/bin is tried when go is not on PATH) and
# the Go module proxy. Keeps the default Go build cache, so rebuilds after a key change are fast.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSIONS="${HERE}/versions.env"
# shellcheck source=versions.env source-path=SCRIPTDIR
source "${VERSIONS}"

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:${PATH}"
fi
command -v go >/dev/null 2>&1 || { echo "build-tools: go not found" >&2; exit 1; }

# Cache key: versions.env plus the stand-in sources (a change to either gives a new bin dir).
KEY="$(cat "${VERSIONS}" "${HERE}"/standin/*/main.go | sha256sum | cut -c1-16)"
TOOLS_ROOT="${KVM_E2E_TOOLS_DIR:-${HOME}/.cache/kvm-in-a-pod/e2e-tools}"
OUT="${TOOLS_ROOT}/${KEY}"
BIN="${OUT}/bin"
LOGS="${OUT}/logs"
mkdir -p "${BIN}" "${LOGS}"
cp "${VERSIONS}" "${OUT}/versions.env"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kvm-e2e-build.XXXXXX")"
trap 'chmod -R u+w "${WORK}" 2>/dev/null || true; rm -rf "${WORK}"' EXIT

export CGO_ENABLED=0
# -mod=mod: module copies and generated modules update their own go.mod/go.sum as needed.
export GOFLAGS="-mod=mod -buildvcs=false"

log() { printf 'build-tools: %s\n' "$*" >&2; }

# mod_dir MODULE@VERSION -> prints the module's (read-only) directory in the module cache.
mod_dir() {
	local json
	if ! json="$(go mod download -json "$1" 2>&1)"; then
		printf '%s\n' "${json}" >&2
		return 1
	fi
	local dir
	dir="$(printf '%s\n' "${json}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	if [[ -z "${dir}" || ! -d "${dir}" ]]; then
		printf '%s\n' "${json}" >&2
		return 1
	fi
	printf '%s\n' "${dir}"
}

# writable_copy MODULE@VERSION DEST: a writable copy of a module (module zips carry no modes).
writable_copy() {
	local src
	src="$(mod_dir "$1")" || return 1
	rm -rf "$2"
	cp -r "${src}" "$2"
	chmod -R u+w "$2"
}

# install_file SRC DEST: atomic install (temp name in the same dir, then mv).
install_file() {
	local tmp="${2}.tmp.$$"
	cp "$1" "${tmp}"
	chmod 0755 "${tmp}"
	mv -f "${tmp}" "$2"
}

# ---------------------------------------------------------------------------------------------
# Tool builders. Each gets the temp output path as $1 and runs with cwd = a scratch dir.

build_pulumi() {
	# Wrapper module: pkg/v3's own go.mod replaces sdk/v3 => ../sdk, so require sdk/v3 at the same
	# version and repeat its clipboard replace.
	cat >go.mod <<-EOF
		module kvm-in-a-pod/e2e/wrapper/pulumi

		go 1.26

		replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
	EOF
	go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v${PULUMI_VERSION}" \
		"github.com/pulumi/pulumi/sdk/v3@v${PULUMI_VERSION}"
	go build -trimpath -tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}" \
		-o "$1" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

# A stand-in (e2e/standin/NAME/main.go) in a generated module requiring sdk/v3 at PULUMI_VERSION.
build_standin() { # OUT NAME VERSION
	cp "${HERE}/standin/$2/main.go" .
	cat >go.mod <<-EOF
		module kvm-in-a-pod/e2e/standin/$2

		go 1.26

		require github.com/pulumi/pulumi/sdk/v3 v${PULUMI_VERSION}
	EOF
	go mod tidy
	go build -trimpath -ldflags "-s -w -X main.version=$3" -o "$1" .
}

install_python_exec() {
	local sdk
	sdk="$(mod_dir "github.com/pulumi/pulumi/sdk/v3@v${PULUMI_VERSION}")"
	install_file "${sdk}/python/cmd/pulumi-language-python-exec" "${BIN}/pulumi-language-python-exec"
}

build_language_python() {
	install_python_exec
	case "${PULUMI_LANGUAGE_PYTHON_SOURCE}" in
	upstream)
		[[ -n "${PULUMI_LANGUAGE_PYTHON_REF}" ]] || { echo "PULUMI_LANGUAGE_PYTHON_REF is empty" >&2; return 1; }
		writable_copy "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3@${PULUMI_LANGUAGE_PYTHON_REF}" src
		cd src
		# Its go.mod replaces pkg/v3 and sdk/v3 with relative paths: require both at PULUMI_VERSION.
		go mod edit \
			-dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
			-require "github.com/pulumi/pulumi/pkg/v3@v${PULUMI_VERSION}" \
			-require "github.com/pulumi/pulumi/sdk/v3@v${PULUMI_VERSION}"
		go build -trimpath -tags osusergo,grpcnotrace \
			-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}" \
			-o "$1" .
		;;
	standin)
		build_standin "$1" pulumi-language-python "${PULUMI_VERSION}+standin"
		;;
	*)
		echo "unknown PULUMI_LANGUAGE_PYTHON_SOURCE=${PULUMI_LANGUAGE_PYTHON_SOURCE}" >&2
		return 1
		;;
	esac
}

build_kubernetes() {
	writable_copy "github.com/pulumi/pulumi-kubernetes/provider/v4@${KUBERNETES_PROVIDER_MODULE_VERSION}" src
	cd src
	# `replace sdk/v4 => ../sdk` cannot resolve outside the repository: require a served sdk/v4.
	go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
		-require "github.com/pulumi/pulumi-kubernetes/sdk/v4@${KUBERNETES_SDK_V4_VERSION}"
	# main.go embeds schema-embed.json and terraform-mapping-embed.json (git-ignored, so absent
	# from the module zip): generate them.
	VERSION="${KUBERNETES_PROVIDER_VERSION}" go generate ./cmd/pulumi-resource-kubernetes
	go build -trimpath \
		-ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${KUBERNETES_PROVIDER_VERSION}" \
		-o "$1" ./cmd/pulumi-resource-kubernetes
}

build_command() {
	case "${PULUMI_COMMAND_SOURCE}" in
	upstream)
		[[ -n "${PULUMI_COMMAND_PROVIDER_REF}" ]] || { echo "PULUMI_COMMAND_PROVIDER_REF is empty" >&2; return 1; }
		writable_copy "github.com/pulumi/pulumi-command/provider@${PULUMI_COMMAND_PROVIDER_REF}" src
		cd src
		go build -trimpath \
			-ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=${PULUMI_COMMAND_VERSION}" \
			-o "$1" ./cmd/pulumi-resource-command
		;;
	standin)
		build_standin "$1" pulumi-resource-command "${PULUMI_COMMAND_VERSION}+standin"
		;;
	*)
		echo "unknown PULUMI_COMMAND_SOURCE=${PULUMI_COMMAND_SOURCE}" >&2
		return 1
		;;
	esac
}

build_macvtap() {
	# Built inside a writable copy of the module, so its go.mod's k8s.io replace block applies
	# (its Makefile's -mod=vendor cannot work: module zips carry no vendor/).
	writable_copy "github.com/kubevirt/macvtap-cni@${MACVTAP_CNI_VERSION}" src
	cd src
	go build -trimpath -ldflags "-s -w" -o "$1" ./cmd/cni
}

# ---------------------------------------------------------------------------------------------

SUMMARY=()
FAILED=()

# tool FILE REQUIRED(1|0) BUILDER: skip if $BIN/FILE exists, else build to a temp name and mv.
tool() {
	local file="$1" required="$2" builder="$3"
	local dest="${BIN}/${file}" logf="${LOGS}/${file}.log"
	if [[ -x "${dest}" ]]; then
		SUMMARY+=("$(printf '%-30s cached      %6s MiB' "${file}" "$(du -m "${dest}" | cut -f1)")")
		return 0
	fi
	local scratch="${WORK}/${file}" tmp="${dest}.tmp.$$" start=${SECONDS}
	mkdir -p "${scratch}"
	log "building ${file} (log: ${logf})"
	# set -e is ignored inside an if-condition, so run the builder as a plain command.
	local rc=0
	set +e
	(
		set -e
		cd "${scratch}"
		"${builder}" "${tmp}"
	) >"${logf}" 2>&1
	rc=$?
	set -e
	if [[ ${rc} == 0 && -s "${tmp}" ]]; then
		mv -f "${tmp}" "${dest}"
		SUMMARY+=("$(printf '%-30s built %5ss %6s MiB' "${file}" "$((SECONDS - start))" "$(du -m "${dest}" | cut -f1)")")
	else
		rm -f "${tmp}"
		log "FAILED ${file} after $((SECONDS - start))s; last lines of ${logf}:"
		tail -n 15 "${logf}" | sed 's/^/    /' >&2
		SUMMARY+=("$(printf '%-30s FAILED after %ss (see %s)' "${file}" "$((SECONDS - start))" "${logf}")")
		if [[ "${required}" == 1 ]]; then
			FAILED+=("${file}")
		fi
	fi
}

TOTAL_START=${SECONDS}
tool pulumi 1 build_pulumi
tool pulumi-language-python 1 build_language_python
# The executor script must sit next to the language host; restore it if it went missing.
if [[ -x "${BIN}/pulumi-language-python" && ! -x "${BIN}/pulumi-language-python-exec" ]]; then
	install_python_exec >>"${LOGS}/pulumi-language-python.log" 2>&1 || FAILED+=("pulumi-language-python-exec")
fi
tool pulumi-resource-kubernetes 1 build_kubernetes
tool pulumi-resource-command 1 build_command
if [[ -n "${MACVTAP_CNI_VERSION}" ]]; then
	tool macvtap 0 build_macvtap
fi

{
	echo "key=${KEY}"
	echo "pulumi=v${PULUMI_VERSION}"
	echo "pulumi-language-python=${PULUMI_LANGUAGE_PYTHON_SOURCE} ${PULUMI_LANGUAGE_PYTHON_REF}"
	echo "pulumi-resource-kubernetes=${KUBERNETES_PROVIDER_MODULE_VERSION} (reports ${KUBERNETES_PROVIDER_VERSION})"
	echo "pulumi-resource-command=${PULUMI_COMMAND_SOURCE} ${PULUMI_COMMAND_PROVIDER_REF} (reports ${PULUMI_COMMAND_VERSION})"
	echo "macvtap=${MACVTAP_CNI_VERSION:-skipped}"
	printf '%s\n' "${SUMMARY[@]}"
} >"${OUT}/manifest.txt"

printf '%s\n' "${SUMMARY[@]}"
echo "total $((SECONDS - TOTAL_START))s"
if ((${#FAILED[@]} > 0)); then
	log "required tools failed: ${FAILED[*]}"
	exit 1
fi
echo "${BIN}"

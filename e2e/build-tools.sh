#!/usr/bin/env bash
# Builds the e2e tools that the Go module proxy serves, with `go`, into a cache directory outside
# the repository keyed by e2e/versions.env:
#
#   ${KVM_E2E_TOOLS_DIR:-$HOME/.cache/kvm-in-a-pod/e2e-tools}/<key>/bin
#     pulumi                        CLI (github.com/pulumi/pulumi/pkg/v3)
#     pulumi-resource-kubernetes    kubernetes provider (github.com/pulumi/pulumi-kubernetes/provider/v4)
#     kube-apiserver                k8s.io/kubernetes cmd/kube-apiserver, through a wrapper module
#     kube-controller-manager       k8s.io/kubernetes cmd/kube-controller-manager, same wrapper
#     etcd                          go.etcd.io/etcd/server/v3 etcdmain, through a wrapper module
#
# The Python language host, the command provider and the macvtap CNI are NOT built here: the
# proxy does not serve them. A user gets them with the Pulumi CLI and `pulumi plugin install`
# (see e2e/README.md); the suite finds them on PATH, in the CLI's plugin directory, or in
# the directory named by KVM_E2E_BIN.
#
# Usage: BIN=$(e2e/build-tools.sh | tail -n 1)
#        e2e/build-tools.sh --print-bin    (the bin dir for this key, nothing built; tests/e2e/tools.py
#                                           computes the same path to find the tools)
# stdout: one summary line per tool (build time, size), then the bin dir as the LAST line.
# stderr: progress. Build logs: <key>/logs/<tool>.log. A tool whose binary exists is skipped;
# binaries are built to a temp name and mv'ed into place. Exits non-zero if any tool fails.
#
# Needs: bash, coreutils, go (>= 1.26; /usr/local/go/bin is tried when go is not on PATH) and
# the Go module proxy. Keeps the default Go build cache, so rebuilds after a key change are fast.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSIONS="${HERE}/versions.env"
# shellcheck source=versions.env source-path=SCRIPTDIR
source "${VERSIONS}"

# Cache key: versions.env and this script, comment lines left out (a change to either gives a new
# bin dir; a comment does not). tests/e2e/tools.py (build_cache_bin) computes the same key.
KEY="$(cat "${VERSIONS}" "${BASH_SOURCE[0]}" | grep -v '^[[:space:]]*#' | sha256sum | cut -c1-16)"
TOOLS_ROOT="${KVM_E2E_TOOLS_DIR:-${HOME}/.cache/kvm-in-a-pod/e2e-tools}"
OUT="${TOOLS_ROOT}/${KEY}"
BIN="${OUT}/bin"
LOGS="${OUT}/logs"
if [[ "${1:-}" == "--print-bin" ]]; then
	echo "${BIN}"
	exit 0
fi

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="/usr/local/go/bin:${PATH}"
fi
command -v go >/dev/null 2>&1 || { echo "build-tools: go not found" >&2; exit 1; }
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

# kubernetes' own go.mod requires its staging modules at v0.0.0 and replaces them with ./staging:
# a wrapper module must replace each with the published module at the matching v0.x.y.
K8S_STAGING_MODULES=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
	cloud-provider cluster-bootstrap code-generator component-base component-helpers
	controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
	endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler
	kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
	sample-controller streaming)

# k8s_wrapper: one module with a main per component, in ./kube-apiserver and ./kube-controller-manager.
k8s_wrapper() {
	local staging="v0.${KUBERNETES_VERSION#v1.}" m
	cat >go.mod <<-EOF
		module kvm-in-a-pod/e2e/wrapper/kubernetes

		go 1.26
	EOF
	for m in "${K8S_STAGING_MODULES[@]}"; do
		go mod edit -replace "k8s.io/${m}=k8s.io/${m}@${staging}"
	done
	mkdir -p kube-apiserver kube-controller-manager
	# The same main as upstream's cmd/<component>/<component>.go.
	cat >kube-apiserver/main.go <<-EOF
		package main

		import (
			"os"
			_ "time/tzdata"

			"k8s.io/component-base/cli"
			_ "k8s.io/component-base/logs/json/register"
			_ "k8s.io/component-base/metrics/prometheus/clientgo"
			_ "k8s.io/component-base/metrics/prometheus/version"
			"k8s.io/kubernetes/cmd/kube-apiserver/app"
		)

		func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
	EOF
	cat >kube-controller-manager/main.go <<-EOF
		package main

		import (
			"os"
			_ "time/tzdata"

			"k8s.io/component-base/cli"
			_ "k8s.io/component-base/logs/json/register"
			_ "k8s.io/component-base/metrics/prometheus/clientgo"
			_ "k8s.io/component-base/metrics/prometheus/version"
			"k8s.io/kubernetes/cmd/kube-controller-manager/app"
		)

		func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
	EOF
	go get "k8s.io/kubernetes@${KUBERNETES_VERSION}"
	go mod tidy
}

k8s_build() { # OUT COMPONENT
	local major="${KUBERNETES_VERSION#v}" v=k8s.io/component-base/version
	major="${major%%.*}"
	local minor="${KUBERNETES_VERSION#v*.}"
	minor="${minor%%.*}"
	k8s_wrapper
	# The version ldflags that upstream's hack/lib/version.sh sets, so /version reports the release.
	go build -trimpath -ldflags "-s -w -X ${v}.gitVersion=${KUBERNETES_VERSION} -X ${v}.gitMajor=${major} \
		-X ${v}.gitMinor=${minor} -X ${v}.gitTreeState=clean -X ${v}.buildDate=1970-01-01T00:00:00Z" \
		-o "$1" "./$2"
}

build_kube_apiserver() { k8s_build "$1" kube-apiserver; }
build_kube_controller_manager() { k8s_build "$1" kube-controller-manager; }

build_etcd() {
	cat >go.mod <<-EOF
		module kvm-in-a-pod/e2e/wrapper/etcd

		go 1.26
	EOF
	cat >main.go <<-EOF
		package main

		import (
			"os"

			"go.etcd.io/etcd/server/v3/etcdmain"
		)

		func main() { etcdmain.Main(os.Args) }
	EOF
	go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
	go mod tidy
	go build -trimpath -ldflags "-s -w" -o "$1" .
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
tool pulumi-resource-kubernetes 1 build_kubernetes
tool kube-apiserver 1 build_kube_apiserver
tool etcd 1 build_etcd
tool kube-controller-manager 1 build_kube_controller_manager

{
	echo "key=${KEY}"
	echo "pulumi=v${PULUMI_VERSION}"
	echo "pulumi-resource-kubernetes=${KUBERNETES_PROVIDER_MODULE_VERSION} (reports ${KUBERNETES_PROVIDER_VERSION})"
	echo "kubernetes=${KUBERNETES_VERSION}"
	echo "etcd=${ETCD_VERSION}"
	printf '%s\n' "${SUMMARY[@]}"
} >"${OUT}/manifest.txt"

printf '%s\n' "${SUMMARY[@]}"
echo "total $((SECONDS - TOTAL_START))s"
if ((${#FAILED[@]} > 0)); then
	log "tools failed: ${FAILED[*]}"
	exit 1
fi
echo "${BIN}"

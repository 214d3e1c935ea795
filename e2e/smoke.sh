#!/usr/bin/env bash
# Offline smoke check of the e2e Pulumi toolchain built by e2e/build-tools.sh.
#
#   e2e/smoke.sh [BIN_DIR]     (default: the bin dir printed by e2e/build-tools.sh)
#
# In a throwaway directory it creates a Python project (pip toolchain, virtualenv "venv") with
# pulumi, pulumi-kubernetes, pulumi-command and pulumi-policy from PyPI, then, against a local
# file:// backend and with automatic plugin downloads disabled:
#   stack init -> up (a ConfigMap through a render-to-directory kubernetes Provider, and a
#   local Command `echo hi`) -> rendered YAML exists, stdout output is "hi" ->
#   preview --expect-no-changes -> preview --policy-pack (advisory Python policy fires) ->
#   destroy -> stack rm.
# Exits non-zero on the first failed step. Set SMOKE_KEEP=1 to keep the temp directory.
#
# SMOKE_PLUGINS=path (default): providers are found on PATH as `pulumi-resource-<name>`
#   ("ambient" plugins; every command then warns "using pulumi-resource-X from $PATH").
# SMOKE_PLUGINS=installed: the providers are installed offline into PULUMI_HOME with
#   `pulumi plugin install resource NAME VERSION --file BIN/pulumi-resource-NAME` and
#   PULUMI_IGNORE_AMBIENT_PLUGINS=true (the language host is still found next to `pulumi`):
#   no plugin warnings at all.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env source-path=SCRIPTDIR
source "${HERE}/versions.env"

BIN="${1:-}"
if [[ -z "${BIN}" ]]; then
	BIN="$("${HERE}/build-tools.sh" | tail -n 1)"
fi
BIN="$(cd "${BIN}" && pwd)"
for tool in pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-kubernetes pulumi-resource-command; do
	[[ -x "${BIN}/${tool}" ]] || { echo "smoke: missing ${BIN}/${tool}" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kvm-e2e-smoke.XXXXXX")"
cleanup() {
	if [[ "${SMOKE_KEEP:-0}" == 1 ]]; then
		echo "smoke: kept ${WORK}"
	else
		rm -rf "${WORK}"
	fi
}
trap cleanup EXIT

export PATH="${BIN}:${PATH}"
export PULUMI_HOME="${WORK}/pulumi-home"
export PULUMI_BACKEND_URL="file://${WORK}/state"
export PULUMI_CONFIG_PASSPHRASE=test
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_CONFIRMATIONS=true
export PULUMI_EXPERIMENTAL=false
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset PULUMI_ACCESS_TOKEN PULUMI_ORG || true
mkdir -p "${PULUMI_HOME}" "${WORK}/state"

PY="${PYTHON:-python3}"
PROJ="${WORK}/project"
PACK="${WORK}/policy"
RENDER="${WORK}/rendered"
mkdir -p "${PROJ}" "${PACK}"

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }

step "python project in ${PROJ}"
cat >"${PROJ}/Pulumi.yaml" <<'EOF'
name: kvm-e2e-smoke
description: throwaway smoke project for the e2e toolchain
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: venv
EOF
cat >"${PROJ}/requirements.txt" <<EOF
pulumi==${PY_PULUMI_VERSION}
pulumi-kubernetes==${PY_PULUMI_KUBERNETES_VERSION}
pulumi-command==${PY_PULUMI_COMMAND_VERSION}
pulumi-policy==${PY_PULUMI_POLICY_VERSION}
EOF
cat >"${PROJ}/__main__.py" <<'EOF'
import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

cfg = pulumi.Config()
render = k8s.Provider("render", render_yaml_to_directory=cfg.require("renderDir"))
cm = k8s.core.v1.ConfigMap(
    "smoke",
    metadata={"name": "smoke", "namespace": "default"},
    data={"hello": "world"},
    opts=pulumi.ResourceOptions(provider=render),
)
hi = command.local.Command("hi", create="echo hi")
pulumi.export("stdout", hi.stdout)
pulumi.export("configmap", cm.metadata["name"])
EOF

step "virtualenv + pip install (PyPI)"
t0=${SECONDS}
"${PY}" -m venv "${PROJ}/venv"
"${PROJ}/venv/bin/pip" install -q -r "${PROJ}/requirements.txt"
echo "pip install took $((SECONDS - t0))s"

step "policy pack in ${PACK}"
cat >"${PACK}/PulumiPolicy.yaml" <<'EOF'
description: throwaway advisory policy pack for the e2e smoke check
version: 0.0.1
runtime:
  name: python
  options:
    virtualenv: venv
EOF
cat >"${PACK}/__main__.py" <<'EOF'
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)


def _configmap_seen(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == "kubernetes:core/v1:ConfigMap":
        report_violation("smoke advisory: saw ConfigMap " + args.name)


PolicyPack(
    name="kvm-e2e-smoke-policy",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[
        ResourceValidationPolicy(
            name="smoke-configmap-seen",
            description="Reports every ConfigMap (advisory).",
            validate=_configmap_seen,
        ),
    ],
)
EOF
# The pack needs pulumi + pulumi_policy in its own virtualenv: reuse the project's.
ln -s "${PROJ}/venv" "${PACK}/venv"

cd "${PROJ}"
step "pulumi version / plugins (SMOKE_PLUGINS=${SMOKE_PLUGINS:-path})"
pulumi version
case "${SMOKE_PLUGINS:-path}" in
path)
	command -v pulumi-language-python pulumi-resource-kubernetes pulumi-resource-command
	;;
installed)
	pulumi plugin install resource kubernetes "${PY_PULUMI_KUBERNETES_VERSION}" \
		--file "${BIN}/pulumi-resource-kubernetes"
	pulumi plugin install resource command "${PY_PULUMI_COMMAND_VERSION}" \
		--file "${BIN}/pulumi-resource-command"
	export PULUMI_IGNORE_AMBIENT_PLUGINS=true
	pulumi plugin ls
	;;
*) fail "SMOKE_PLUGINS must be path or installed" ;;
esac

step "pulumi stack init"
pulumi stack init smoke --non-interactive
pulumi config set renderDir "${RENDER}"

step "pulumi up --yes"
pulumi up --yes --non-interactive --skip-preview

step "rendered YAML"
mapfile -t rendered < <(find "${RENDER}" -name '*.yaml' | sort)
printf '%s\n' "${rendered[@]}"
grep -l 'kind: ConfigMap' "${rendered[@]}" >/dev/null || fail "no rendered ConfigMap under ${RENDER}"
out="$(pulumi stack output stdout)"
[[ "${out}" == "hi" ]] || fail "command stdout is '${out}', want 'hi'"
echo "local.Command stdout: ${out}"

step "pulumi preview --expect-no-changes"
pulumi preview --expect-no-changes --non-interactive

step "pulumi preview --policy-pack ${PACK}"
pulumi preview --non-interactive --policy-pack "${PACK}" | tee "${WORK}/policy-preview.txt"
grep -q 'smoke advisory: saw ConfigMap' "${WORK}/policy-preview.txt" \
	|| fail "advisory policy did not report"

step "pulumi destroy --yes"
pulumi destroy --yes --non-interactive --skip-preview
pulumi stack rm smoke --yes --non-interactive

echo
echo "smoke: OK (bin dir ${BIN}, SMOKE_PLUGINS=${SMOKE_PLUGINS:-path})"

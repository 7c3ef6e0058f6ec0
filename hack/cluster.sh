#!/usr/bin/env bash
# cluster.sh runs a real single-node Kubernetes on this machine for the
# end-to-end tests: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy from hack/deps/cluster-bins.sh, on
# Debian's containerd, runc and CNI plugins. docs/e2e-cluster.md explains the
# settings (each one is needed on this kind of host) and what the host keeps.
#
#   hack/cluster.sh up       start it (idempotent); writes bin/kubeconfig
#   hack/cluster.sh down     stop it and undo every change it made to the host
#   hack/cluster.sh status   exit 0 when the node is Ready
#
# Root only and one cluster per machine: kubelet and containerd use fixed host
# paths and ports. With CI=true a cluster that cannot start fails the run.
set -euo pipefail
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=hack/oci.sh
. "$(dirname "${BASH_SOURCE[0]}")/oci.sh"

# STATE holds what the cluster owns (certs, etcd data, logs, containerd's
# images); it goes away on down. HOST records the host as it was before up.
STATE="${KM_BIN_DIR}/cluster"
HOST="${STATE}/host"
PKI="${STATE}/pki"
LOGS="${STATE}/logs"
KUBECONFIG_OUT="${KM_BIN_DIR}/kubeconfig"
# The bridge's address is the node IP and the apiserver's advertise address:
# both refuse loopback, and this address is reachable only on this machine.
BRIDGE=kmbr0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
SERVICE_API_IP=10.96.0.1
NODE_NAME=km-node
ETCD_PORT=23790
PAUSE_IMAGE="localhost/keymanager/pause:v${K8S_VERSION}"
CONTAINERD_SOCK=/run/containerd/containerd.sock
# Host paths with fixed names that kubelet, containerd and CNI create.
FIXED_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/netns /etc/cni)
# Sysctls the kubelet and kube-proxy set; down puts the recorded values back.
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
	net.ipv4.conf.all.route_localnet net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max)
CGROUP_ROOT=/sys/fs/cgroup
DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

fail() {
	warn "$*"
	if is_ci; then
		printf '\nFATAL (CI=true): the cluster cannot start: %s\n\n' "$*" >&2
	fi
	exit 1
}

pid_of() {
	local f="${STATE}/pids/$1.pid" pid
	[[ -s "$f" ]] || return 1
	pid="$(cat "$f")"
	kill -0 "$pid" 2>/dev/null || return 1
	printf '%s' "$pid"
}

# start NAME BIN ARGS… runs a daemon in its own session, logging to LOGS.
start() {
	local name="$1"
	shift
	if pid_of "$name" >/dev/null; then
		ok "${name} running"
		return 0
	fi
	mkdir -p "${STATE}/pids" "$LOGS"
	setsid "$@" >>"${LOGS}/${name}.log" 2>&1 </dev/null &
	echo $! >"${STATE}/pids/${name}.pid"
	ok "${name} started (log ${LOGS}/${name}.log)"
}

stop() {
	local name="$1" pid
	if pid="$(pid_of "$name")"; then
		terminate "$name" "$pid" 10
	fi
	rm -f "${STATE}/pids/${name}.pid"
}

# wait_for DESC SECONDS CMD… retries CMD every half second.
wait_for() {
	local desc="$1" secs="$2"
	shift 2
	poll "$secs" "$@" || fail "${desc} not ready after ${secs}s (logs in ${LOGS})"
}

kctl() { "${BINS}/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

# record_host notes, once per cluster, the host state that up changes.
record_host() {
	[[ -f "${HOST}/complete" ]] && return 0
	mkdir -p "$HOST"
	local key p
	: >"${HOST}/sysctl"
	for key in "${SYSCTLS[@]}"; do
		if [[ -e "/proc/sys/${key//.//}" ]]; then
			printf '%s=%s\n' "$key" "$(sysctl -n "$key")" >>"${HOST}/sysctl"
		fi
	done
	: >"${HOST}/absent-paths"
	for p in "${FIXED_PATHS[@]}"; do [[ -e "$p" ]] || echo "$p" >>"${HOST}/absent-paths"; done
	iptables-save >"${HOST}/iptables"
	nft list tables >"${HOST}/nft-tables"
	ip6tables-save >"${HOST}/ip6tables"
	touch "${HOST}/complete"
}

pki() {
	[[ -f "${PKI}/admin.crt" ]] && return 0
	mkdir -p "$PKI"
	local tmp
	tmp="$(mktemp -d)"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=keymanager-e2e-ca" \
		-keyout "${PKI}/ca.key" -out "${PKI}/ca.crt" 2>/dev/null
	openssl genrsa -out "${PKI}/sa.key" 2048 2>/dev/null
	openssl rsa -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
	# cert NAME SUBJECT [SANS] issues a key pair signed by the cluster CA.
	cert() {
		local ext="${tmp}/$1.ext"
		printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
			"${3:+serverAuth,}clientAuth" >"$ext"
		[[ -n "${3:-}" ]] && printf 'subjectAltName=%s\n' "$3" >>"$ext"
		openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "${PKI}/$1.key" -out "${tmp}/$1.csr" 2>/dev/null
		openssl x509 -req -in "${tmp}/$1.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
			-days 30 -extfile "$ext" -out "${PKI}/$1.crt" 2>/dev/null
	}
	cert apiserver "/CN=kube-apiserver" \
		"IP:${NODE_IP},IP:${SERVICE_API_IP},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert controller-manager "/CN=system:kube-controller-manager"
	cert scheduler "/CN=system:kube-scheduler"
	cert kubelet "/O=system:nodes/CN=system:node:${NODE_NAME}"
	cert kube-proxy "/CN=system:kube-proxy"
	cert admin "/O=system:masters/CN=keymanager-e2e-admin"
	rm -rf "$tmp"
	chmod 0600 "${PKI}"/*.key
}

# kubeconfig NAME FILE writes a kubeconfig for client cert NAME.
kubeconfig() {
	cat >"$2" <<KC
apiVersion: v1
kind: Config
clusters:
- name: keymanager-e2e
  cluster:
    server: https://${NODE_IP}:6443
    certificate-authority: ${PKI}/ca.crt
users:
- name: $1
  user:
    client-certificate: ${PKI}/$1.crt
    client-key: ${PKI}/$1.key
contexts:
- name: keymanager-e2e
  context: {cluster: keymanager-e2e, user: $1}
current-context: keymanager-e2e
KC
	chmod 0600 "$2"
}

bridge() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "${NODE_IP}/24" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
}

cni_config() {
	mkdir -p "${STATE}/cni/net.d"
	cat >"${STATE}/cni/net.d/10-keymanager.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "keymanager-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "${BRIDGE}", "isGateway": true, "hairpinMode": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "${STATE}/cni/ipam",
              "ranges": [[{"subnet": "${POD_CIDR}", "gateway": "${NODE_IP}"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
}

containerd_config() {
	mkdir -p "${STATE}/containerd"
	# restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and without it
	# every sandbox fails with "can't get final child's PID from pipe: EOF".
	cat >"${STATE}/containerd/config.toml" <<TOML
version = 2
root = "${STATE}/containerd/root"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${CONTAINERD_SOCK}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${STATE}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${STATE}/cni/net.d"
TOML
}

pause_image() {
	local tar="${STATE}/pause.tar" rootfs
	if ctr -n k8s.io images ls -q | grep -qx "$PAUSE_IMAGE"; then return 0; fi
	rootfs="$(mktemp -d)"
	chmod 0755 "$rootfs"
	install -D -m 0755 "${BINS}/pause" "${rootfs}/pause"
	oci_image "$rootfs" "$PAUSE_IMAGE" "$tar" '{"Entrypoint":["/pause"],"User":"65535:65535"}'
	rm -rf "$rootfs"
	ctr -n k8s.io images import "$tar" >/dev/null
	ok "pause image ${PAUSE_IMAGE}"
}

kubelet_config() {
	cat >"${STATE}/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# 1.35+ refuses cgroup v1 unless told; this host is cgroup v1 (hybrid).
failCgroupV1: false
# containerd 1.6 has no RuntimeConfig RPC, so the kubelet uses its own driver.
cgroupDriver: cgroupfs
failSwapOn: false
address: ${NODE_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${PKI}/ca.crt}
authorization: {mode: Webhook}
# A shared test machine: never evict for disk or memory pressure, never
# collect the locally imported images (nothing could pull them back).
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML
	cat >"${STATE}/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: ${POD_CIDR}
bindAddress: ${NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
hostnameOverride: ${NODE_NAME}
clientConnection: {kubeconfig: ${STATE}/kube-proxy.kubeconfig}
# Zero leaves the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
}

node_ready() {
	[[ "$(kctl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

up() {
	is_root || fail "hack/cluster.sh needs root (kubelet, containerd, iptables)"
	local t0=$SECONDS
	# iproute2 for ip, procps for sysctl, openssl for the PKI: a minimal Debian has none of them.
	apt_install runc containerd containernetworking-plugins iptables nftables conntrack iproute2 procps openssl ||
		fail "Debian packages missing"
	for b in runc containerd ctr iptables-save nft openssl ip sysctl; do have "$b" || fail "${b} not on PATH"; done
	BINS="$(bash "${REPO_ROOT}/hack/deps/cluster-bins.sh")" || fail "cannot build the cluster binaries"
	log "cluster up (state ${STATE})"
	record_host
	pki
	bridge
	cni_config
	containerd_config
	kubelet_config
	for n in controller-manager scheduler kubelet kube-proxy admin; do kubeconfig "$n" "${STATE}/${n}.kubeconfig"; done
	cp "${STATE}/admin.kubeconfig" "$KUBECONFIG_OUT"
	start etcd "${BINS}/etcd" --data-dir "${STATE}/etcd" --name km-e2e \
		--listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
		--listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
		--initial-cluster km-e2e=http://127.0.0.1:23800 --unsafe-no-fsync
	start kube-apiserver "${BINS}/kube-apiserver" --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
		--advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port 6443 \
		--service-cluster-ip-range "$SERVICE_CIDR" --client-ca-file "${PKI}/ca.crt" \
		--tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
		--service-account-issuer https://kubernetes.default.svc --service-account-key-file "${PKI}/sa.pub" \
		--service-account-signing-key-file "${PKI}/sa.key" --authorization-mode Node,RBAC \
		--kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" \
		--kubelet-client-key "${PKI}/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types InternalIP --allow-privileged=true
	wait_for "kube-apiserver" 60 kctl get --raw /readyz
	start kube-controller-manager "${BINS}/kube-controller-manager" --kubeconfig "${STATE}/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
		--cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
		--use-service-account-credentials --leader-elect=false
	start kube-scheduler "${BINS}/kube-scheduler" --kubeconfig "${STATE}/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false
	start containerd containerd --config "${STATE}/containerd/config.toml"
	wait_for "containerd" 30 ctr --address "$CONTAINERD_SOCK" version
	pause_image
	start kubelet "${BINS}/kubelet" --config "${STATE}/kubelet.yaml" --kubeconfig "${STATE}/kubelet.kubeconfig" \
		--node-ip "$NODE_IP" --hostname-override "$NODE_NAME"
	start kube-proxy "${BINS}/kube-proxy" --config "${STATE}/kube-proxy.yaml"
	wait_for "node ${NODE_NAME}" 120 node_ready
	# The default ServiceAccount is what pods need before they can be created.
	wait_for "default ServiceAccount" 60 kctl get serviceaccount default
	ok "cluster up in $((SECONDS - t0))s: KUBECONFIG=${KUBECONFIG_OUT}"
}

# kill_pods stops every container and sandbox directly through containerd:
# the kubelet is already gone, and a shell as PID 1 would ignore SIGTERM.
kill_pods() {
	have ctr && [[ -S "$CONTAINERD_SOCK" ]] || return 0
	local c
	for c in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do
		ctr -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
	done
	sleep 1
	for c in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true; done
	for c in $(ctr -n k8s.io containers ls -q 2>/dev/null); do ctr -n k8s.io containers delete "$c" >/dev/null 2>&1 || true; done
}

# unmount_under DIR lazily unmounts everything mounted at or below DIR, deepest first.
unmount_under() {
	local m
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# remove_cgroups removes the kubelet's /kubepods hierarchy in every v1
# controller and in the unified tree, leaves first.
remove_cgroups() {
	local d
	for d in "${CGROUP_ROOT}"/*/kubepods "${CGROUP_ROOT}"/*/kubepods.slice; do
		[[ -d "$d" ]] || continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ -d "$d" ]] && warn "cgroup ${d} still present (a process still in it?)"
	done
}

restore_iptables() {
	local kind save restore table
	for kind in iptables ip6tables; do
		save="${kind}-save"
		restore="${kind}-restore"
		[[ -f "${HOST}/${kind}" ]] || continue
		# Tables the cluster created are flushed and their chains deleted;
		# then every table the host had is restored as recorded.
		for table in $("$save" 2>/dev/null | sed -n 's/^\*//p'); do
			if ! grep -qx "\*${table}" "${HOST}/${kind}"; then
				"$kind" -t "$table" -F 2>/dev/null || true
				"$kind" -t "$table" -X 2>/dev/null || true
			fi
		done
		"$restore" <"${HOST}/${kind}"
	done
	# iptables-nft creates whole nftables tables (filter, nat, mangle per
	# family, kube-proxy's own) that no iptables command removes.
	local fam name
	nft list tables | while read -r _ fam name; do
		grep -qx "table ${fam} ${name}" "${HOST}/nft-tables" || nft delete table "$fam" "$name"
	done
}

down() {
	is_root || fail "hack/cluster.sh needs root"
	local t0=$SECONDS name p key val
	log "cluster down"
	# Controllers first, so nothing recreates pods while they are killed.
	for name in kube-controller-manager kube-scheduler kubelet kube-proxy; do stop "$name"; done
	kill_pods
	stop containerd
	stop kube-apiserver
	stop etcd
	unmount_under /run/containerd
	unmount_under /var/lib/kubelet
	unmount_under "${STATE}/containerd"
	unmount_under /run/netns
	# Deleting a pod's network namespace destroys its veth; the bridge goes last.
	for p in /run/netns/cni-*; do [[ -e "$p" ]] && rm -f "$p"; done
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
	remove_cgroups
	if [[ -f "${HOST}/complete" ]]; then
		restore_iptables
		while IFS='=' read -r key val; do sysctl -qw "${key}=${val}" || warn "cannot restore ${key}"; done <"${HOST}/sysctl"
		while read -r p; do rm -rf "$p"; done <"${HOST}/absent-paths"
	fi
	rm -rf "$STATE" "$KUBECONFIG_OUT"
	ok "cluster down in $((SECONDS - t0))s"
}

status() {
	BINS="${KM_BIN_DIR}/k8s/${K8S_VERSION}-$(go_os_arch)"
	local name rc=0
	for name in "${DAEMONS[@]}"; do
		if pid_of "$name" >/dev/null; then ok "${name} running"; else warn "${name} not running" && rc=1; fi
	done
	if [[ -x "${BINS}/kubectl" ]] && node_ready; then ok "node ${NODE_NAME} Ready"; else warn "node not Ready" && rc=1; fi
	return "$rc"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac

// Package charts holds the tests of the Helm charts in this directory: charts/keymanager is linted, rendered
// with default and other values by the pinned helm (hack/deps/helm.sh), compared with config/ (kustomize) and
// applied to envtest's real kube-apiserver, where the operator then runs with the chart's RBAC.
package charts

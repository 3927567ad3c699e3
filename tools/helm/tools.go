//go:build tools

// Package tools pins the command this module builds: helm, for the chart's tests.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)

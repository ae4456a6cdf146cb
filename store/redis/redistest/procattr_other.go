//go:build !linux

package redistest

import "os/exec"

// setProcAttr does nothing outside Linux: the Cleanup registered by Start
// stops the server.
func setProcAttr(*exec.Cmd) {}

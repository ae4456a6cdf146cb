package plugin

import (
	"net/http"
	"time"
)

// CodeServiceBusy is a 503 for a reset request that cannot be queued
// (the queue of requests waiting for lookup is full): try again.
const CodeServiceBusy = "SERVICE_BUSY"

// busyRetryAfter is the Retry-After of a 503 SERVICE_BUSY.
const busyRetryAfter = 5 * time.Second

// errServiceBusy answers a reset request that the full queue cannot take
// (the queue of requests waiting for lookup holds QueueSize): the client
// retries rather than trust a 202 whose mail would never come. The queue
// is shared by all users, so the answer tells nothing about any account.
var errServiceBusy = func() *apiError {
	e := newError(http.StatusServiceUnavailable, CodeServiceBusy, "too many reset requests are waiting; try again in a moment", "")
	e.retry = busyRetryAfter
	return e
}()

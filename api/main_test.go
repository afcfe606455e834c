package api

import (
	"testing"

	"go.uber.org/goleak"
)

// Streams, subscriptions and servers must all be gone when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

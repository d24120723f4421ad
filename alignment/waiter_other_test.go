//go:build !linux

package alignment_test

import "errors"

func newFDWaiter() (waiter, error) { return nil, errors.New("the fd waiter uses Linux's timerfd") }

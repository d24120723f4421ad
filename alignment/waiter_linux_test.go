package alignment_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// fdWaiter waits a latency as a call to a server waits for its socket:
// for a kernel timer (timerfd) to make a file readable, which the
// runtime's network poller reports as soon as it is, with no rounding to
// the millisecond. Its files are kept for reuse, as many as waits were
// ever under way at once.
type fdWaiter struct {
	free chan *os.File
}

func newFDWaiter() (waiter, error) { return &fdWaiter{free: make(chan *os.File, 4096)}, nil }

// itimerspec is the kernel's struct itimerspec.
type itimerspec struct{ interval, value syscall.Timespec }

func (w *fdWaiter) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err() // a zero timerfd is disarmed: it would never fire
	}
	var f *os.File
	select {
	case f = <-w.free:
	default:
		const clockMonotonic = 1
		fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if errno != 0 {
			return os.NewSyscallError("timerfd_create", errno)
		}
		f = os.NewFile(fd, "timerfd") // non-blocking: the poller waits on it
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	spec := itimerspec{value: syscall.NsecToTimespec(int64(d))}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	}); err != nil || errno != 0 {
		f.Close()
		return errors.Join(err, os.NewSyscallError("timerfd_settime", errno))
	}
	// The context's end unblocks the read through its deadline; the file
	// is not reused then, as the deadline may be set after the read.
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	var expirations [8]byte
	_, err = f.Read(expirations[:])
	if !stop() {
		f.Close()
		return ctx.Err()
	}
	if err != nil {
		f.Close()
		return err
	}
	select {
	case w.free <- f:
		return nil
	default:
		return f.Close()
	}
}

func (w *fdWaiter) close() error {
	var errs []error
	for {
		select {
		case f := <-w.free:
			errs = append(errs, f.Close())
		default:
			return errors.Join(errs...)
		}
	}
}

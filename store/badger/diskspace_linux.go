package badger

import (
	"os"

	"golang.org/x/sys/unix"
)

// freeBytes is the space an unprivileged writer may still use in dir's
// file system.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// allocate gives f's first size bytes real blocks (fallocate, keeping the
// size).
func allocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, size)
}

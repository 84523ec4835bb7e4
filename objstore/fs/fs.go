// Package fs is an objstore.Bucket on a local directory, for the embedded store and for tests.
// It is Unix-only (it uses link(2) and flock(2)).
//
// # Layout
//
// The object with key "seg/ab/cdef" is the file <root>/seg/ab/cdef. The directory
// <root>/.stowken holds the bucket's own state: temporary files (.stowken/tmp) and a lock file
// (.stowken/lock). Keys whose first element is ".stowken" are therefore rejected with
// objstore.ErrInvalidKey, and List never shows anything under it, including the temporary files
// a crashed writer leaves behind (they are harmless and may be removed when no writer runs).
//
// A file system cannot hold both a file "a" and a directory "a", so unlike S3 this backend
// cannot store a key that is a path prefix of another stored key ("a" and "a/b"): the second
// Put fails with an error that is not one of the objstore sentinels. Key schemes meant to be
// portable avoid such pairs (for example by giving objects a suffix such as ".json"). Get and
// Stat of a key that names a directory report objstore.ErrNotFound, and Delete ignores it.
//
// # Atomicity and durability
//
// Put writes the data to a temporary file, sets its modification time, fsyncs it, moves it into
// place with rename(2) and fsyncs the directory, so readers see the old or the new content,
// never a partial write, and a Put that returned survives a crash. Directories that Put creates
// are fsynced into their parents too.
//
// Create-if-absent (PutOptions.IfNoneMatch) uses link(2), which fails when the name exists, so
// it is atomic across goroutines and processes. Compare-and-swap (PutOptions.IfMatch),
// unconditional Put and Delete serialise their final step (check, rename or unlink) on a
// per-bucket lock: a mutex within the process and flock(2) on .stowken/lock across processes.
// flock may not work on network file systems; use the bucket on a local disk.
//
// # Read-only buckets
//
// OpenReadOnly opens an existing bucket for reading: it creates nothing (no directory, no
// temporary or lock file), and Put and Delete fail with objstore.ErrReadOnly. Any number of
// read-only and read-write buckets may be open on the same directory.
//
// # ETags
//
// The ETag is derived from the file's inode number, size and modification time (with
// nanoseconds, set explicitly by Put from the system clock), so Stat and List need not read the
// content. Every Put creates a new inode, so the ETag changes on every write, even one that
// stores identical content (S3's ETag, the MD5 of the content, would not). If the file system
// keeps timestamps coarser than the clock's resolution, a deleted file's inode number could be
// reused by a write of the same size within the same timestamp tick and repeat an old ETag;
// use a file system with nanosecond timestamps (ext4, XFS, btrfs, tmpfs all have them).
//
// # Symbolic links
//
// All access goes through os.Root: a symbolic link inside the root is followed only when its
// target is inside the root too; one that points outside makes the operation fail, so no key
// can read or write outside the root. Symbolic links are not objects: Get and Stat of a key
// whose last element is a symbolic link report objstore.ErrNotFound, List skips symbolic links
// (and does not descend into linked directories), Delete ignores them, and Put replaces the
// link itself, never its target.
//
// docs/design.md ("Layout") describes the objects a store keeps.
package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stowken/stowken/objstore"
)

const (
	metaDir  = ".stowken"
	tmpDir   = metaDir + "/tmp"
	lockFile = metaDir + "/lock"

	dirPerm  = 0o755
	filePerm = 0o644

	// commitAttempts bounds the retries when a concurrent Delete removes a directory between
	// Put creating it and moving the new file into it.
	commitAttempts = 10
)

// Bucket is an objstore.Bucket rooted at a local directory. Open it with Open.
type Bucket struct {
	dir  string
	root *os.Root

	// mu and lock (flocked) together serialise commits within and across processes. lock is
	// nil in a read-only bucket, which never commits.
	mu   sync.Mutex
	lock *os.File
}

var _ objstore.Bucket = (*Bucket)(nil)

// Open opens the bucket rooted at dir, creating the directory if needed.
func Open(dir string) (*Bucket, error) {
	if dir == "" {
		return nil, errors.New("fs: open: empty directory name")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("fs: open: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: open: %w", err)
	}
	if err := root.MkdirAll(tmpDir, dirPerm); err != nil {
		_ = root.Close()
		return nil, fmt.Errorf("fs: open %s: %w", dir, err)
	}
	lock, err := root.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		_ = root.Close()
		return nil, fmt.Errorf("fs: open %s: lock file: %w", dir, err)
	}
	return &Bucket{dir: dir, root: root, lock: lock}, nil
}

// OpenReadOnly opens the existing bucket rooted at dir for reading only (see the package
// documentation). A missing directory is an error wrapping fs.ErrNotExist.
func OpenReadOnly(dir string) (*Bucket, error) {
	if dir == "" {
		return nil, errors.New("fs: open: empty directory name")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: open read-only: %w", err)
	}
	return &Bucket{dir: dir, root: root}, nil
}

// Dir returns the directory the bucket was opened on.
func (b *Bucket) Dir() string { return b.dir }

// readOnly reports whether the bucket was opened with OpenReadOnly.
func (b *Bucket) readOnly() bool { return b.lock == nil }

// Close releases the directory and the lock file.
func (b *Bucket) Close() error {
	if b.readOnly() {
		return b.root.Close()
	}
	return errors.Join(b.lock.Close(), b.root.Close())
}

// checkKey applies objstore.ValidateKey and the backend's own reservation of ".stowken".
func checkKey(key string) error {
	if err := objstore.ValidateKey(key); err != nil {
		return err
	}
	if key == metaDir || strings.HasPrefix(key, metaDir+"/") {
		return fmt.Errorf("%w: %q: %q is reserved by the fs backend", objstore.ErrInvalidKey, key, metaDir)
	}
	return nil
}

// etag derives the version tag of a file from its inode number, size and modification time.
func etag(fi os.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return strconv.FormatUint(ino, 16) + "-" + strconv.FormatInt(fi.Size(), 16) + "-" +
		strconv.FormatInt(fi.ModTime().UnixNano(), 16)
}

func attrs(key string, fi os.FileInfo) objstore.Attrs {
	return objstore.Attrs{Key: key, Size: fi.Size(), ETag: etag(fi), ModTime: fi.ModTime()}
}

// isNotFound reports whether err means that nothing is at the path: it or a parent is missing,
// or a parent is a file.
func isNotFound(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// withLock runs fn holding the bucket's commit lock.
func (b *Bucket) withLock(fn func() error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.flock(unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	err := fn()
	if uerr := b.flock(unix.LOCK_UN); uerr != nil && err == nil {
		err = fmt.Errorf("unlock: %w", uerr)
	}
	return err
}

func (b *Bucket) flock(how int) error {
	rc, err := b.lock.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), how)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// syncDir fsyncs a directory so that entries created or removed in it are durable.
func (b *Bucket) syncDir(dir string) error {
	d, err := b.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// mkdirs creates dir and its missing parents, fsyncing each new directory into its parent.
func (b *Bucket) mkdirs(dir string) error {
	if dir == "." {
		return nil
	}
	elems := strings.Split(dir, "/")
	for i := range elems {
		p := strings.Join(elems[:i+1], "/")
		err := b.root.Mkdir(p, dirPerm)
		switch {
		case err == nil:
			if err := b.syncDir(path.Dir(p)); err != nil {
				return err
			}
		case errors.Is(err, iofs.ErrExist):
			// Already there; if it is a file the commit reports the conflict.
		default:
			return err
		}
	}
	return nil
}

// conflict is the error for a key that a file system cannot hold because of another key.
func conflict(key string) error {
	return fmt.Errorf("fs: put %q: the key conflicts with an existing object: this backend "+
		"cannot store both a key and keys below it (\"a\" and \"a/b\")", key)
}

// writeTemp writes data to a new temporary file, stamps and fsyncs it, and returns its name
// and attributes.
func (b *Bucket) writeTemp(data []byte) (name string, fi os.FileInfo, err error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", nil, err
	}
	name = tmpDir + "/" + hex.EncodeToString(r[:])
	f, err := b.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = b.root.Remove(name)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return "", nil, err
	}
	// Stamp the file with the full-resolution clock: kernels keep coarser timestamps, and the
	// modification time is part of the ETag.
	now := time.Now()
	if err := b.root.Chtimes(name, now, now); err != nil {
		return "", nil, err
	}
	if err := f.Sync(); err != nil {
		return "", nil, err
	}
	fi, err = f.Stat()
	if err != nil {
		return "", nil, err
	}
	return name, fi, nil
}

// Put writes data under key, honouring opts. See the package documentation for how it is made
// atomic and durable.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, opts objstore.PutOptions) (objstore.Attrs, error) {
	if err := checkKey(key); err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: put: %w", err)
	}
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: IfNoneMatch and IfMatch are mutually exclusive", key)
	}
	if b.readOnly() {
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: %w", key, objstore.ErrReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: %w", key, err)
	}
	tmp, fi, err := b.writeTemp(data)
	if err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: write temporary file: %w", key, err)
	}
	defer func() { _ = b.root.Remove(tmp) }() // after a link or a failure; a no-op after a rename
	if err := ctx.Err(); err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: %w", key, err)
	}

	dir := path.Dir(key)
	for attempt := 1; ; attempt++ {
		if err := b.mkdirs(dir); err != nil {
			return objstore.Attrs{}, fmt.Errorf("fs: put %q: create directory: %w", key, err)
		}
		err = b.commit(tmp, key, opts)
		// ENOENT: a concurrent Delete removed the directory we just made; make it again.
		if !errors.Is(err, iofs.ErrNotExist) || attempt == commitAttempts {
			break
		}
	}
	switch {
	case errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrPrecondition):
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: %w", key, err)
	case errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR):
		return objstore.Attrs{}, conflict(key)
	case err != nil:
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: %w", key, err)
	}
	if err := b.syncDir(dir); err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: put %q: sync directory: %w", key, err)
	}
	return attrs(key, fi), nil
}

// commit moves the temporary file tmp to key, honouring opts.
func (b *Bucket) commit(tmp, key string, opts objstore.PutOptions) error {
	if opts.IfNoneMatch {
		err := b.root.Link(tmp, key)
		if errors.Is(err, iofs.ErrExist) {
			if fi, serr := b.root.Lstat(key); serr == nil && fi.IsDir() {
				return syscall.EISDIR
			}
			return objstore.ErrExists
		}
		return err
	}
	return b.withLock(func() error {
		if opts.IfMatch != "" {
			fi, err := b.root.Lstat(key)
			switch {
			case isNotFound(err):
				return fmt.Errorf("if-match %q on a missing object: %w", opts.IfMatch, objstore.ErrPrecondition)
			case err != nil:
				return err
			case !fi.Mode().IsRegular():
				return fmt.Errorf("if-match %q on a non-object: %w", opts.IfMatch, objstore.ErrPrecondition)
			case etag(fi) != opts.IfMatch:
				return fmt.Errorf("if-match %q, current ETag %q: %w", opts.IfMatch, etag(fi), objstore.ErrPrecondition)
			}
		}
		return b.root.Rename(tmp, key)
	})
}

// Get returns the object's content and attributes, or ErrNotFound.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objstore.Attrs, error) {
	if err := checkKey(key); err != nil {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: %w", key, err)
	}
	// Symbolic links are not objects. Lstat first, because os.Root refuses (rather than
	// declines to follow) a link that points outside the root even with O_NOFOLLOW; a link
	// swapped in after the Lstat makes the open fail with ELOOP.
	if fi, err := b.root.Lstat(key); err == nil && fi.Mode()&iofs.ModeSymlink != 0 {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: %w", key, objstore.ErrNotFound)
	}
	f, err := b.root.OpenFile(key, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if isNotFound(err) || errors.Is(err, syscall.ELOOP) {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: %w", key, objstore.ErrNotFound)
	} else if err != nil {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: %w", key, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: %w", key, objstore.ErrNotFound)
	}
	// Files are replaced, never modified in place, so the size is the content's size.
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, objstore.Attrs{}, fmt.Errorf("fs: get %q: read: %w", key, err)
	}
	return data, attrs(key, fi), nil
}

// Stat returns the object's attributes, or ErrNotFound.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	if err := checkKey(key); err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return objstore.Attrs{}, fmt.Errorf("fs: stat %q: %w", key, err)
	}
	fi, err := b.root.Lstat(key)
	switch {
	case isNotFound(err):
		return objstore.Attrs{}, fmt.Errorf("fs: stat %q: %w", key, objstore.ErrNotFound)
	case err != nil:
		return objstore.Attrs{}, fmt.Errorf("fs: stat %q: %w", key, err)
	case !fi.Mode().IsRegular():
		return objstore.Attrs{}, fmt.Errorf("fs: stat %q: %w", key, objstore.ErrNotFound)
	}
	return attrs(key, fi), nil
}

// Delete removes the objects with the given keys and then the directories that became empty
// (never the root). Missing keys are ignored. If any key is invalid nothing is deleted.
func (b *Bucket) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := checkKey(key); err != nil {
			return fmt.Errorf("fs: delete: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: delete: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	if b.readOnly() {
		return fmt.Errorf("fs: delete: %w", objstore.ErrReadOnly)
	}
	dirty := map[string]bool{} // directories to fsync
	err := b.withLock(func() error {
		for _, key := range keys {
			if err := ctx.Err(); err != nil {
				return err
			}
			removed, err := b.remove(key)
			if err != nil {
				return err
			}
			if removed {
				dirty[b.pruneDirs(path.Dir(key))] = true
			}
		}
		return nil
	})
	for dir := range dirty {
		if serr := b.syncDir(dir); serr != nil && !isNotFound(serr) {
			err = errors.Join(err, fmt.Errorf("sync directory %q: %w", dir, serr))
		}
	}
	if err != nil {
		return fmt.Errorf("fs: delete: %w", err)
	}
	return nil
}

// remove unlinks the object at key, reporting whether there was one.
func (b *Bucket) remove(key string) (bool, error) {
	fi, err := b.root.Lstat(key)
	switch {
	case isNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%q: %w", key, err)
	case fi.IsDir() || fi.Mode()&iofs.ModeSymlink != 0:
		return false, nil // not an object
	}
	if err := b.root.Remove(key); err != nil && !isNotFound(err) {
		return false, fmt.Errorf("%q: %w", key, err)
	}
	return true, nil
}

// pruneDirs removes dir and its ancestors while they are empty, best-effort, and returns the
// directory whose entry changed last (the one to fsync).
func (b *Bucket) pruneDirs(dir string) string {
	for dir != "." {
		fi, err := b.root.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return dir
		}
		if err := b.root.Remove(dir); err != nil {
			return dir // not empty, or gone: stop
		}
		dir = path.Dir(dir)
	}
	return dir
}

// List calls fn for every object whose key starts with prefix, in lexical key order.
//
// It walks only the directory that the prefix's complete path elements name, and reads one
// directory at a time, sorting its entries so that the walk yields keys in exact byte order:
// a directory "a" sorts as "a/", after a file "a-c" and before a file "a0".
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	return b.ListAfter(ctx, prefix, "", fn)
}

// ListAfter is List of the keys after after. The directories are read as for List; the keys
// up to after are skipped without a stat.
func (b *Bucket) ListAfter(ctx context.Context, prefix, after string, fn func(objstore.Attrs) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs: list %q: %w", prefix, err)
	}
	dir := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i]
		// No key has an empty, "." or ".." element, so such a prefix matches nothing.
		for _, elem := range strings.Split(dir, "/") {
			if elem == "" || elem == "." || elem == ".." {
				return nil
			}
		}
		if strings.Split(dir, "/")[0] == metaDir {
			return nil
		}
	}
	err := b.walkDir(ctx, dir, prefix, after, fn)
	var l listed
	switch {
	case err == nil:
		return nil
	case errors.As(err, &l):
		return l.err
	case isNotFound(err) && dir != ".":
		return nil // the prefix's directory does not exist
	}
	return fmt.Errorf("fs: list %q: %w", prefix, err)
}

// listed marks an error that came from fn, so that List returns it as it is.
type listed struct{ err error }

func (e listed) Error() string { return e.err.Error() }
func (e listed) Unwrap() error { return e.err }

type entry struct {
	name  string // the file name
	sort  string // name, or name+"/" for a directory
	isDir bool
}

func (b *Bucket) walkDir(ctx context.Context, dir, prefix, after string, fn func(objstore.Attrs) error) error {
	d, err := b.root.Open(dir)
	if err != nil {
		return err
	}
	des, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		return err
	}
	keyDir := "" // the key prefix of the entries in dir
	if dir != "." {
		keyDir = dir + "/"
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		switch {
		case dir == "." && name == metaDir:
		case de.IsDir():
			entries = append(entries, entry{name: name, sort: name + "/", isDir: true})
		case de.Type().IsRegular():
			entries = append(entries, entry{name: name, sort: name})
		}
		// Anything else (symbolic links, devices, sockets) is not an object.
	}
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(x.sort, y.sort) })

	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := keyDir + e.sort
		if e.isDir {
			// Descend only where keys can match the prefix.
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			if err := b.walkDir(ctx, keyDir+e.name, prefix, after, fn); err != nil && !isNotFound(err) {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) || key <= after || objstore.ValidateKey(key) != nil {
			continue
		}
		fi, err := b.root.Lstat(key)
		if isNotFound(err) {
			continue // deleted since the directory was read
		} else if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := fn(attrs(key, fi)); err != nil {
			return listed{err}
		}
	}
	return nil
}

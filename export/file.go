package export

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/stowken/stowken/conversation"
)

// pendingFile is an output file written under a temporary name beside its path (path +
// ".tmp-" + random hex), so that an export that fails or is interrupted never leaves a
// truncated file that looks complete, nor replaces what the path held before. commit makes
// the content durable (fsync) and renames it to the path; discard removes it.
type pendingFile struct {
	*os.File
	path string
	done bool
}

func createPending(path string) (*pendingFile, error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".tmp-"+hex.EncodeToString(suffix[:]), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, err
	}
	return &pendingFile{File: f, path: path}, nil
}

// commit syncs and closes the file, then renames it to its path.
func (p *pendingFile) commit() error {
	if p.done {
		return ErrClosed
	}
	p.done = true
	err := p.Sync()
	if cerr := p.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.Name())
		return fmt.Errorf("export: writing %s: %w", p.path, err)
	}
	return nil
}

// discard closes and removes the file; after commit it does nothing.
func (p *pendingFile) discard() {
	if p.done {
		return
	}
	p.done = true
	p.File.Close()
	os.Remove(p.Name())
}

// File is an export's output file (see Create). Nothing appears at its path before Close.
type File struct {
	io.Writer
	gz   *gzip.Writer // nil unless the name ends in ".gz"
	file *pendingFile
}

// Create returns a File writing to path, gzip-compressed when the name ends in ".gz". What is
// written goes to a temporary file beside path: Close finishes the gzip stream, syncs the file
// and renames it to path; Discard removes it instead, leaving path as it was. An interrupted
// export leaves at most a temporary file (path + ".tmp-" + hex digits), never a truncated
// file at path. The name "-" is refused: standard output is the caller's to handle (write to
// os.Stdout instead).
func Create(path string) (*File, error) {
	if path == "-" {
		return nil, fmt.Errorf("export: %q stands for standard output, which the caller writes to itself: %w", path, os.ErrInvalid)
	}
	p, err := createPending(path)
	if err != nil {
		return nil, err
	}
	f := &File{Writer: p, file: p}
	if strings.HasSuffix(path, ".gz") {
		f.gz = gzip.NewWriter(p)
		f.Writer = f.gz
	}
	return f, nil
}

// Close finishes the file and moves it to its path.
func (f *File) Close() error {
	if f.gz != nil {
		if err := f.gz.Close(); err != nil {
			f.file.discard()
			return fmt.Errorf("export: writing %s: %w", f.file.path, err)
		}
	}
	return f.file.commit()
}

// Discard removes what was written; the path keeps what it held before. After Close it does
// nothing.
func (f *File) Discard() { f.file.discard() }

// MegatronFiles is a Megatron-LM indexed dataset being written to PREFIX.bin and PREFIX.idx
// (see CreateMegatron).
type MegatronFiles struct {
	w        Writer
	bin, idx *pendingFile
}

// CreateMegatron returns a Writer of a Megatron-LM indexed dataset (see NewMegatron) into
// PREFIX.bin and PREFIX.idx. Both are written under temporary names beside them: Close writes
// the index, removes an earlier PREFIX.idx, then renames the .bin and then the .idx into place,
// so that a .bin is never paired with another export's .idx; Discard removes both and leaves
// the prefix's files as they were. An interrupted export leaves at most temporary files.
func CreateMegatron(prefix string) (*MegatronFiles, error) {
	bin, err := createPending(prefix + MegatronBinSuffix)
	if err != nil {
		return nil, err
	}
	idx, err := createPending(prefix + MegatronIdxSuffix)
	if err != nil {
		bin.discard()
		return nil, err
	}
	return &MegatronFiles{w: NewMegatron(bin, idx), bin: bin, idx: idx}, nil
}

// createMegatronFileSet is CreateMegatron as the registry's FileSet constructor.
func createMegatronFileSet(prefix string) (FileSetWriter, error) {
	m, err := CreateMegatron(prefix)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Write appends one conversation as one sequence and one document (see NewMegatron).
func (m *MegatronFiles) Write(c *conversation.Conversation) error { return m.w.Write(c) }

// Close writes the index and moves both files into place.
func (m *MegatronFiles) Close() error {
	err := m.w.Close()
	if err == nil {
		if rerr := os.Remove(m.idx.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	if err == nil {
		err = m.bin.commit()
	}
	if err == nil {
		err = m.idx.commit()
	}
	if err != nil {
		m.Discard()
	}
	return err
}

// Discard removes what was written; the prefix's files stay as they were. After Close it does
// nothing.
func (m *MegatronFiles) Discard() {
	m.bin.discard()
	m.idx.discard()
}

// note_check: certa's signed checkpoints checked by a verifier not written
// here, Go's golang.org/x/mod/sumdb/note (C2SP signed-note), and its tree
// hash by golang.org/x/mod/sumdb/tlog (Debian's golang-golang-x-mod-dev,
// built with GOPATH=/usr/share/gocode and GO111MODULE=off).
//
// usage: note_check NOTE LEAVES VKEY...
//
// VKEY is a verifier key "name+keyid+base64(0x01 || Ed25519 public key)"
// (the signed-note form; keyid 8 hex digits). The note must open with every
// VKEY's signature verified by note.Open and no unverified signature; its
// text must be a C2SP tlog-checkpoint (origin, size, base64 root) whose root
// tlog.TreeHash computes from the first `size` lines of LEAVES (hex, as
// `certa merkle log --leaves` prints). Exits 0 when all holds, 1 naming what
// does not, 2 on bad input.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type hashes map[int64]tlog.Hash

func (h hashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		v, ok := h[x]
		if !ok {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = v
	}
	return out, nil
}

func die(code int, f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "note_check: "+f+"\n", a...)
	os.Exit(code)
}

func main() {
	if len(os.Args) < 4 {
		die(2, "usage: note_check NOTE LEAVES VKEY...")
	}
	msg, err := os.ReadFile(os.Args[1])
	if err != nil {
		die(2, "%v", err)
	}
	var vs []note.Verifier
	for _, k := range os.Args[3:] {
		v, err := note.NewVerifier(k)
		if err != nil {
			die(2, "verifier key %q: %v", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		die(1, "note.Open: %v", err)
	}
	if len(n.Sigs) != len(vs) || len(n.UnverifiedSigs) != 0 {
		die(1, "%d verified and %d unverified signatures, want %d and 0",
			len(n.Sigs), len(n.UnverifiedSigs), len(vs))
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 3 {
		die(1, "checkpoint text has %d lines, want 3", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		die(1, "size line %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		die(1, "root line %q", lines[2])
	}
	f, err := os.Open(os.Args[2])
	if err != nil {
		die(2, "%v", err)
	}
	stored := hashes{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var count int64
	for sc.Scan() && count < size {
		b, err := hex.DecodeString(sc.Text())
		if err != nil {
			die(2, "leaf %d: %v", count, err)
		}
		hs, err := tlog.StoredHashes(count, b, stored)
		if err != nil {
			die(2, "%v", err)
		}
		for i, h := range hs {
			stored[tlog.StoredHashIndex(0, count)+int64(i)] = h
		}
		count++
	}
	if count != size {
		die(1, "the log has %d leaves, the checkpoint says %d", count, size)
	}
	th, err := tlog.TreeHash(size, stored)
	if err != nil {
		die(2, "%v", err)
	}
	if string(th[:]) != string(root) {
		die(1, "tlog.TreeHash of %d leaves is %x, the checkpoint's root %x", size, th[:], root)
	}
	fmt.Printf("note_check: %s: %d signatures verified by sumdb/note, root of %d leaves "+
		"matches tlog\n", lines[0], len(n.Sigs), size)
}

// tlog_check: certa's Merkle proofs checked by a verifier not written here,
// Go's golang.org/x/mod/sumdb/tlog (Debian's golang-golang-x-mod-dev, built
// with GOPATH=/usr/share/gocode and GO111MODULE=off).
//
// usage: tlog_check LEAVES PROOF.json...
//
// LEAVES has one leaf per line in hex (certa merkle's FILE). For every
// proof printed by `certa merkle prove` or `certa merkle consistency` it
// checks, with tlog's own code: the leaf hash (tlog.RecordHash), the roots
// (tlog.TreeHash over hashes stored by tlog.StoredHashes), the proof
// (tlog.CheckRecord, tlog.CheckTree), and that tlog builds the very same
// path (tlog.ProveRecord, tlog.ProveTree). Exits 0 when every proof holds,
// 1 naming the first that does not, 2 on bad input.
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	TreeSize  *int64   `json:"tree_size"`
	LeafIndex *int64   `json:"leaf_index"`
	LeafHash  string   `json:"leaf_hash"`
	Root      string   `json:"root"`
	OldSize   *int64   `json:"old_size"`
	NewSize   *int64   `json:"new_size"`
	OldRoot   string   `json:"old_root"`
	NewRoot   string   `json:"new_root"`
	Path      []string `json:"path"`
}

func die(code int, format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog_check: "+format+"\n", a...)
	os.Exit(code)
}

func hash(s string) tlog.Hash {
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		die(2, "%q is not 64 hex digits", s)
	}
	copy(h[:], b)
	return h
}

func hashes(ss []string) []tlog.Hash {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		out[i] = hash(s)
	}
	return out
}

func samePath(a []tlog.Hash, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func main() {
	if len(os.Args) < 3 {
		die(2, "usage: tlog_check LEAVES PROOF.json...")
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		die(2, "%v", err)
	}
	var leaves [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b, err := hex.DecodeString(strings.TrimSpace(sc.Text()))
		if err != nil {
			die(2, "%s line %d: %v", os.Args[1], len(leaves)+1, err)
		}
		leaves = append(leaves, b)
	}
	f.Close()
	// the log's stored hashes, built by tlog alone
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for n, leaf := range leaves {
		add, err := tlog.StoredHashes(int64(n), leaf, reader)
		if err != nil {
			die(2, "storing leaf %d: %v", n, err)
		}
		stored = append(stored, add...)
	}
	root := func(size int64) tlog.Hash {
		h, err := tlog.TreeHash(size, reader)
		if err != nil {
			die(2, "tree hash of %d: %v", size, err)
		}
		return h
	}
	checked := 0
	for _, name := range os.Args[2:] {
		b, err := os.ReadFile(name)
		if err != nil {
			die(2, "%v", err)
		}
		var p proof
		if err := json.Unmarshal(b, &p); err != nil {
			die(2, "%s: %v", name, err)
		}
		path := hashes(p.Path)
		switch {
		case p.TreeSize != nil && p.LeafIndex != nil:
			t, n := *p.TreeSize, *p.LeafIndex
			if t > int64(len(leaves)) || n < 0 || n >= t {
				die(2, "%s: leaf %d of %d outside the %d leaves", name, n, t, len(leaves))
			}
			if tlog.RecordHash(leaves[n]) != hash(p.LeafHash) {
				die(1, "%s: leaf_hash is not tlog's hash of leaf %d", name, n)
			}
			if root(t) != hash(p.Root) {
				die(1, "%s: root is not tlog's root of %d leaves", name, t)
			}
			if err := tlog.CheckRecord(path, t, hash(p.Root), n, hash(p.LeafHash)); err != nil {
				die(1, "%s: inclusion of leaf %d in %d: %v", name, n, t, err)
			}
			own, err := tlog.ProveRecord(t, n, reader)
			if err != nil || !samePath(own, path) {
				die(1, "%s: tlog proves leaf %d in %d with another path", name, n, t)
			}
		case p.OldSize != nil && p.NewSize != nil:
			n, t := *p.OldSize, *p.NewSize
			if t > int64(len(leaves)) || n < 1 || n > t {
				die(2, "%s: sizes %d..%d outside 1..%d", name, n, t, len(leaves))
			}
			if root(n) != hash(p.OldRoot) || root(t) != hash(p.NewRoot) {
				die(1, "%s: old_root or new_root is not tlog's", name)
			}
			if err := tlog.CheckTree(path, t, hash(p.NewRoot), n, hash(p.OldRoot)); err != nil {
				die(1, "%s: consistency %d -> %d: %v", name, n, t, err)
			}
			own, err := tlog.ProveTree(t, n, reader)
			if err != nil || !samePath(own, path) {
				die(1, "%s: tlog proves %d -> %d with another path", name, n, t)
			}
		default:
			die(2, "%s: neither an inclusion nor a consistency proof", name)
		}
		checked++
	}
	fmt.Printf("tlog_check: %d proofs hold under golang.org/x/mod/sumdb/tlog\n", checked)
}

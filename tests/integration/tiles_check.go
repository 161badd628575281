// tiles_check: certa's event log fetched over HTTP in the C2SP tlog-tiles
// layout and checked by a verifier not written here, Go's
// golang.org/x/mod/sumdb/tlog (Debian's golang-golang-x-mod-dev, built with
// GOPATH=/usr/share/gocode and GO111MODULE=off).
//
// usage: tiles_check BASE_URL [OLD_SIZE OLD_ROOT_BASE64]
//
// Fetches BASE_URL/checkpoint (a C2SP tlog-checkpoint: origin, size, base64
// root; its signatures are note_check's business), then every entry
// bundle (tile/entries/N: u16 big-endian length || leaf), whose leaves must
// hash to the checkpoint's root, and every tile of the tree, each hash of
// which must be that tree's; then through tlog.TileHashReader the tree
// hash, inclusion proofs of the last leaf and of every 509th, and with
// OLD_SIZE and OLD_ROOT a consistency proof from that older checkpoint.
// Tiles must be served with an immutable Cache-Control, the checkpoint
// with no-cache. Exits 0 when all holds, 1 naming what does not,
// 2 on bad input.
package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

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

var base string

func die(code int, f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tiles_check: "+f+"\n", a...)
	os.Exit(code)
}

func get(path string, wantCache string) []byte {
	resp, err := http.Get(base + "/" + path)
	if err != nil {
		die(1, "GET /%s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		die(1, "GET /%s: %v", path, err)
	}
	if resp.StatusCode != 200 {
		die(1, "GET /%s: status %d: %s", path, resp.StatusCode, b)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, wantCache) {
		die(1, "GET /%s: Cache-Control %q, want %q", path, cc, wantCache)
	}
	return b
}

// c2sp maps Go's tile path (tile/8/L/N[.p/W]) to tlog-tiles' (tile/L/N[.p/W]).
func c2sp(t tlog.Tile) string {
	return strings.Replace(t.Path(), fmt.Sprintf("tile/%d/", height), "tile/", 1)
}

// reader fetches each tile once: tiles are immutable, as any cache may assume
type reader struct{ seen map[string][]byte }

func (reader) Height() int { return height }

func (r reader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := c2sp(t)
		if r.seen[p] == nil {
			r.seen[p] = get(p, "immutable")
		}
		out[i] = r.seen[p]
	}
	return out, nil
}

func (reader) SaveTiles([]tlog.Tile, [][]byte) {}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 4 {
		die(2, "usage: tiles_check BASE_URL [OLD_SIZE OLD_ROOT_BASE64]")
	}
	base = strings.TrimSuffix(os.Args[1], "/")
	cp := string(get("checkpoint", "no-cache"))
	lines := strings.SplitN(cp, "\n", 4)
	if len(lines) < 4 {
		die(1, "checkpoint: %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size <= 0 {
		die(1, "checkpoint size line %q", lines[1])
	}
	rb, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rb) != tlog.HashSize {
		die(1, "checkpoint root line %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rb)
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, reader{map[string][]byte{}})
	th, err := tlog.TreeHash(size, hr)
	if err != nil || th != root {
		die(1, "tree hash of %d leaves: %v %x, checkpoint %x", size, err, th[:], root[:])
	}
	// Every leaf from the entry bundles, hashed here into a tree of our own
	// (tlog.StoredHashes) whose root must be the checkpoint's; then every
	// hash of every tile the tree has must be that tree's. This does not
	// lean on TileHashReader's own checks, which in some x/mod versions
	// leave a full tile below an authenticated parent unchecked.
	local := hashes{}
	for n := int64(0); n*256 < size; n++ {
		w := size - n*256
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: height, L: 0, N: n, W: int(w)}
		path := strings.Replace(c2sp(t), "tile/0/", "tile/entries/", 1)
		b := get(path, "immutable")
		for i := int64(0); i < w; i++ {
			if len(b) < 2 {
				die(1, "%s: entry %d missing", path, i)
			}
			l := int(b[0])<<8 | int(b[1])
			if len(b) < 2+l {
				die(1, "%s: entry %d truncated", path, i)
			}
			hs, err := tlog.StoredHashes(n*256+i, b[2:2+l], local)
			if err != nil {
				die(2, "%v", err)
			}
			for k, h := range hs {
				local[tlog.StoredHashIndex(0, n*256+i)+int64(k)] = h
			}
			b = b[2+l:]
		}
		if len(b) != 0 {
			die(1, "%s: %d bytes after its %d entries", path, len(b), w)
		}
	}
	if th, err := tlog.TreeHash(size, local); err != nil || th != root {
		die(1, "the entry bundles' %d leaves hash to %x, the checkpoint says %x", size, th[:], root[:])
	}
	for l := 0; size>>(8*l) > 0; l++ {
		count := size >> (8 * l)
		for n := int64(0); n*256 < count; n++ {
			w := count - n*256
			if w > 256 {
				w = 256
			}
			t := tlog.Tile{H: height, L: l, N: n, W: int(w)}
			b := get(c2sp(t), "immutable")
			if int64(len(b)) != w*tlog.HashSize {
				die(1, "%s: %d bytes, want %d", c2sp(t), len(b), w*tlog.HashSize)
			}
			for i := int64(0); i < w; i++ {
				want := local[tlog.StoredHashIndex(8*l, n*256+i)]
				if string(b[i*tlog.HashSize:(i+1)*tlog.HashSize]) != string(want[:]) {
					die(1, "%s: hash %d is not the tree's (level %d, index %d)", c2sp(t), i,
						8*l, n*256+i)
				}
			}
		}
	}
	// and inclusion proofs through sumdb/tlog's own tile reader
	for at := int64(0); at < size; at += 509 {
		for _, x := range []int64{at, size - 1} {
			p, err := tlog.ProveRecord(size, x, hr)
			if err != nil {
				die(1, "inclusion proof of leaf %d: %v", x, err)
			}
			if err := tlog.CheckRecord(p, size, root, x, local[tlog.StoredHashIndex(0, x)]); err != nil {
				die(1, "leaf %d: %v", x, err)
			}
		}
	}
	if len(os.Args) == 4 {
		old, err := strconv.ParseInt(os.Args[2], 10, 64)
		ob, err2 := base64.StdEncoding.DecodeString(os.Args[3])
		if err != nil || err2 != nil || len(ob) != tlog.HashSize || old > size {
			die(2, "old size %q and root %q", os.Args[2], os.Args[3])
		}
		var oldRoot tlog.Hash
		copy(oldRoot[:], ob)
		p, err := tlog.ProveTree(size, old, hr)
		if err != nil {
			die(1, "consistency proof %d -> %d: %v", old, size, err)
		}
		if err := tlog.CheckTree(p, size, root, old, oldRoot); err != nil {
			die(1, "the log of %d leaves is not a prefix of the one of %d: %v", old, size, err)
		}
	}
	fmt.Printf("tiles_check: %s: %d leaves, every tile, entry and inclusion proof verified "+
		"by sumdb/tlog\n", lines[0], size)
}

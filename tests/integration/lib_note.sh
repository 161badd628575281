# Shared by the checkpoint tests (sourced, not run): Go's sumdb/note and
# sumdb/tlog as the verifier not written here (tests/integration/note_check.go).
#
# note_check_build DIR: builds DIR/note_check offline against Debian's
# golang-golang-x-mod-dev; returns 1 when Go or the package is missing.
note_check_build() {
    command -v go >/dev/null && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/note ] ||
        return 1
    mkdir -p "$1/gopath/src/notecheck" "$1/gocache"
    cp "$SRC/tests/integration/note_check.go" "$1/gopath/src/notecheck/main.go"
    (cd "$1/gopath/src/notecheck" &&
        GOPATH="$1/gopath:/usr/share/gocode" GO111MODULE=off GOCACHE="$1/gocache" GOFLAGS= \
            go build -o "$1/note_check" .) 2>"$1/go.err" || fail "go build: $(cat "$1/go.err")"
}

# note_vkeys GENESIS: the genesis validators' signed-note verifier keys
# (name+keyid+base64(0x01 || sign_pub)), one per line.
note_vkeys() {
    python3 - "$1" <<'PY'
import base64, hashlib, json, sys
g = json.load(open(sys.argv[1]))
for v in g["validators"]:
    pub = bytes.fromhex(v["sign_pub"])
    kid = hashlib.sha256(v["name"].encode() + b"\n\x01" + pub).digest()[:4]
    print("%s+%s+%s" % (v["name"], kid.hex(), base64.b64encode(b"\x01" + pub).decode()))
PY
}

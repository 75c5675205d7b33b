// Command pathoracle reads request targets as dockerd's Go server does, for sockgate's
// differential test of its request target normalizer (tests/path_oracle.rs).
//
// Each input line is one request target, hex-encoded (a target may hold any byte). For each,
// one output line, tab-separated:
//
//	reject <reason>                         net/http refuses the request line
//	route  <hex path> <dot> <utf8>          dockerd's router matches the decoded path
//	redirect <hex path> <hex clean path>    gorilla/mux answers 301 instead of routing
//
// The path is req.URL.Path as net/http decodes it (url.ParseRequestURI, url.PathUnescape
// semantics). <dot> is 1 when the route pattern `.*` matches the whole path as `[^/]*` matches
// each of its segments (Go's `.` does not match `\n`); <utf8> is 1 when the path is valid UTF-8
// (a regexp reads each invalid byte as U+FFFD).
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// gorilla/mux v1.8.0 (vendored by moby v20.10): Router.ServeHTTP redirects when this changes
// req.URL.Path.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

var (
	dotAll   = regexp.MustCompile(`^.*$`)
	segments = regexp.MustCompile(`^(?:/?[^/]*)*$`)
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		target, err := hex.DecodeString(strings.TrimSpace(in.Text()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "pathoracle: bad input line: %v\n", err)
			os.Exit(2)
		}
		fmt.Fprintln(out, judge(string(target)))
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "pathoracle: %v\n", err)
		os.Exit(2)
	}
}

func judge(target string) string {
	// The request as a client sends it: net/http's server reads it with this very function.
	raw := "GET " + target + " HTTP/1.1\r\nHost: docker\r\n\r\n"
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return "reject\t" + strings.ReplaceAll(err.Error(), "\t", " ")
	}
	if req.URL.Scheme != "" || req.URL.Host != "" || !strings.HasPrefix(req.URL.Path, "/") {
		return "reject\tnot origin form"
	}
	p := req.URL.Path
	if clean := cleanPath(p); clean != p {
		return fmt.Sprintf("redirect\t%x\t%x", p, clean)
	}
	dot := dotAll.MatchString(p) == segments.MatchString(p)
	return fmt.Sprintf("route\t%x\t%d\t%d", p, b2i(dot), b2i(utf8.ValidString(p)))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

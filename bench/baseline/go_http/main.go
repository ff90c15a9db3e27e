// go-http: the Go standard-library HTTP/1.1 server used as a peer in the
// HTTP benchmark (bench/http.py), written the way the TechEmpower Go
// "std" entries are: a plain net/http handler, nothing tuned.
//
//	usage: go-http PORT [ROOT]
//
//	GET /plaintext  200 "Hello, World!" with Server, Date (added by
//	                net/http), Content-Type: text/plain, Content-Length
//	GET /<file>     http.FileServer over ROOT (when given)
//
// Run it with GOMAXPROCS=1 to compare against the single-threaded servers.
// Exits on SIGINT/SIGTERM.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

var hello = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Server"] = []string{"Go"}
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{"13"}
	w.Write(hello)
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s PORT [ROOT]\n", os.Args[0])
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port <= 0 || port > 65535 {
		fmt.Fprintf(os.Stderr, "bad port: %s\n", os.Args[1])
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	if len(os.Args) == 3 {
		mux.Handle("/", http.FileServer(http.Dir(os.Args[2])))
	}
	// ":PORT" listens dual-stack on [::] when IPv6 is available.
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		os.Exit(0)
	}()
	srv := &http.Server{Handler: mux}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

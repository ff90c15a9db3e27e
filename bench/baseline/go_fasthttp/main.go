// go-fasthttp: a valyala/fasthttp server used as a peer in the HTTP
// benchmark (bench/http.py), like the TechEmpower fasthttp entry.
// Built in GOPATH mode against Debian's golang-github-valyala-fasthttp-dev.
//
//	usage: go-fasthttp PORT [ROOT]
//
//	GET /plaintext  200 "Hello, World!" with Server, Date (added by
//	                fasthttp), Content-Type: text/plain, Content-Length
//	GET /<file>     fasthttp.FS over ROOT (when given)
//
// Run it with GOMAXPROCS=1 to compare against the single-threaded servers.
// Exits on SIGINT/SIGTERM.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/valyala/fasthttp"
)

var hello = []byte("Hello, World!")

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
	var files fasthttp.RequestHandler
	if len(os.Args) == 3 {
		fs := &fasthttp.FS{Root: os.Args[2]}
		files = fs.NewRequestHandler()
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/plaintext" {
			ctx.SetContentType("text/plain")
			ctx.SetBody(hello)
			return
		}
		if files != nil {
			files(ctx)
			return
		}
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
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
	srv := &fasthttp.Server{Handler: handler, Name: "fasthttp"}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

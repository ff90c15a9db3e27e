// go-echo: the Go standard-library echo server used as the benchmark's
// reference for "what Go's netpoller gives you": one goroutine per
// connection, a blocking-style read/write loop, nothing else.
//
//	usage: go-echo PORT
//
// Run it with GOMAXPROCS=1 to compare against the single-threaded servers.
// Exits on SIGINT/SIGTERM.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	// Explicit loop rather than io.Copy: on Linux io.Copy between two
	// TCPConns would try splice, which is not what a typical Go server's
	// request/response loop does.
	buf := make([]byte, 64*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s PORT\n", os.Args[0])
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil || port <= 0 || port > 65535 {
		fmt.Fprintf(os.Stderr, "bad port: %s\n", os.Args[1])
		os.Exit(2)
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
		ln.Close()
		os.Exit(0)
	}()
	for {
		// Go's TCPConn has TCP_NODELAY on by default, and SIGPIPE on
		// sockets is already handled by the runtime.
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off like net/http does
			// instead of taking the server down.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}

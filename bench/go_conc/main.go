// go-conc: Go peers of ringo's concurrency micro-benchmarks (bench/*.c).
//
//	go-conc <bench> [flags]
//
// Each bench lives in its own file and registers itself from init() with
// register(name, fn); fn gets the arguments after the bench name. Output is
// one "name ns_per_op value" line per measurement, comments start with '#'.
// The harness sets GOMAXPROCS (and pins with taskset).
package main

import (
	"fmt"
	"os"
	"sort"
)

var benches = map[string]func(args []string){}

func register(name string, f func(args []string)) {
	if _, dup := benches[name]; dup {
		panic("go-conc: bench registered twice: " + name)
	}
	benches[name] = f
}

func usage() {
	names := make([]string, 0, len(benches))
	for n := range benches {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: go-conc <bench> [flags]\nbenches: %v\n", names)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	f, ok := benches[os.Args[1]]
	if !ok {
		usage()
	}
	f(os.Args[2:])
}

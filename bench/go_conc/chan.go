// The peer of bench/chanbench.c: the same three measurements with
// goroutines and Go channels.
//
//	chan_pingpong: two goroutines, two unbuffered chan int; A sends on c1,
//	  B receives and sends it back on c2, A receives. ns_per_op = elapsed /
//	  (2 * round trips): one message handed over one way.
//	chan_buffered128: one producer, one consumer, chan int of capacity
//	  128; ns_per_op = elapsed / messages.
//
// Names carry the GOMAXPROCS in force, e.g. go_chan_pingpong_procs2; with
// GOMAXPROCS >= 2 goroutines may run on different Ps, but Go's scheduler
// decides where (a woken goroutine usually goes to the waker's P first).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

func init() { register("chan", chanBench) }

func chanPingPong(n int) time.Duration {
	c1, c2 := make(chan int), make(chan int)
	go func() {
		for v := range c1 {
			c2 <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		c1 <- i
		if v := <-c2; v != i {
			panic("ping-pong out of order")
		}
	}
	d := time.Since(t0)
	close(c1)
	return d
}

func chanBuffered(n int) time.Duration {
	c := make(chan int, 128)
	done := make(chan time.Duration)
	var t0 time.Time
	go func() {
		expect := 0
		for v := range c {
			if v != expect {
				panic("buffered channel out of order")
			}
			expect++
		}
		// t0 was written before the first send: the channel orders it
		done <- time.Since(t0)
	}()
	t0 = time.Now()
	for i := 0; i < n; i++ {
		c <- i
	}
	close(c)
	return <-done
}

func median(f func(int) time.Duration, n, runs, opsPerN int) float64 {
	f(n/10 + 1) // warm-up
	r := make([]float64, runs)
	for i := range r {
		r[i] = float64(f(n).Nanoseconds()) / float64(n*opsPerN)
	}
	sort.Float64s(r)
	return r[runs/2]
}

func chanBench(args []string) {
	fs := flag.NewFlagSet("chan", flag.ExitOnError)
	n := fs.Int("n", 1000000, "round trips (ping-pong) / messages (buffered)")
	runs := fs.Int("runs", 5, "runs per measurement (the median is printed)")
	fs.Parse(args)
	if *n < 10 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "go-conc chan: -n >= 10 and -runs >= 1")
		os.Exit(2)
	}
	procs := runtime.GOMAXPROCS(0)
	fmt.Printf("# go %s channels, GOMAXPROCS=%d; median of %d runs\n", runtime.Version(), procs, *runs)
	fmt.Printf("# pingpong: ns per one-way message = elapsed / (2 * round trips)\n")
	fmt.Printf("# buffered128: one producer -> one consumer, ns per message\n")
	fmt.Printf("go_chan_pingpong_procs%d ns_per_op %.1f\n", procs, median(chanPingPong, *n, *runs, 2))
	fmt.Printf("go_chan_buffered128_procs%d ns_per_op %.1f\n", procs, median(chanBuffered, *n, *runs, 1))
}

// The peer of bench/syncbench.c: goroutine spawn and the sync package.
//
//	spawnjoin: go_spawn_join = wg.Add(1); go func() { wg.Done() }();
//	  wg.Wait() (a sync.WaitGroup as the join; Go has no join handle).
//	mutex: go_mutex_uncontended = mu.Lock(); mu.Unlock() by one goroutine;
//	  go_mutex_handoff = two goroutines each loop { Lock; runtime.Gosched();
//	  Unlock }, ns per lock/unlock pair (both goroutines' pairs counted).
//	  Go's mutex lets the unlocker re-take it before the woken waiter runs
//	  (barging; starvation mode after 1 ms), so the pairs need not
//	  alternate: the share of pairs that changed owner is printed as a
//	  comment.
//	wg: go_wg_round = wg.Add(1); wg.Done(); wg.Wait() by one goroutine;
//	  go_wg_pingpong = two goroutines, two WaitGroups at 1: A waits on a,
//	  re-arms it and releases B's; B the mirror image; ns per round trip.
//
// Names carry the GOMAXPROCS in force, e.g. go_mutex_handoff_procs1.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

func init() {
	register("spawnjoin", syncSpawnJoinBench)
	register("mutex", syncMutexBench)
	register("wg", syncWgBench)
}

// syncFlags parses -n (iterations, scaled per measurement) and -runs.
func syncFlags(name string, args []string, defN int) (int, int) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	n := fs.Int("n", defN, "iterations")
	runs := fs.Int("runs", 5, "runs per measurement (the median is printed)")
	fs.Parse(args)
	if *n < 10 || *runs < 1 {
		fmt.Fprintf(os.Stderr, "go-conc %s: -n >= 10 and -runs >= 1\n", name)
		os.Exit(2)
	}
	return *n, *runs
}

// syncMedian runs f once on n/10+1 to warm up, then runs times on n, and
// returns the median of elapsed / (n * opsPerN) in ns.
func syncMedian(f func(int) time.Duration, n, runs, opsPerN int) float64 {
	f(n/10 + 1)
	r := make([]float64, runs)
	for i := range r {
		r[i] = float64(f(n).Nanoseconds()) / float64(n*opsPerN)
	}
	sort.Float64s(r)
	return r[runs/2]
}

func syncHeader(what string, runs int) int {
	procs := runtime.GOMAXPROCS(0)
	fmt.Printf("# go %s %s, GOMAXPROCS=%d; median of %d runs\n", runtime.Version(), what, procs, runs)
	return procs
}

// ---- spawn + join ----

func goSpawnJoin(n int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	return time.Since(t0)
}

func syncSpawnJoinBench(args []string) {
	n, runs := syncFlags("spawnjoin", args, 200000)
	procs := syncHeader("spawn+join", runs)
	fmt.Printf("# spawn_join: wg.Add(1); go func(){ wg.Done() }(); wg.Wait()\n")
	fmt.Printf("go_spawn_join_procs%d ns_per_op %.1f\n", procs, syncMedian(goSpawnJoin, n, runs, 1))
}

// ---- mutex ----

func goMutexUncontended(n int) time.Duration {
	var mu sync.Mutex
	t0 := time.Now()
	for i := 0; i < n; i++ {
		mu.Lock()
		mu.Unlock()
	}
	return time.Since(t0)
}

var handoffChanges, handoffPairs int64

func goMutexHandoff(n int) time.Duration {
	var mu sync.Mutex
	var wg sync.WaitGroup
	changes, last := int64(0), 0
	loop := func(me int) {
		for i := 0; i < n; i++ {
			mu.Lock()
			if last != me {
				changes++
			}
			last = me
			runtime.Gosched()
			mu.Unlock()
		}
	}
	t0 := time.Now()
	wg.Add(1)
	go func() { loop(2); wg.Done() }()
	loop(1)
	wg.Wait()
	d := time.Since(t0)
	handoffChanges += changes
	handoffPairs += int64(2 * n)
	return d
}

func syncMutexBench(args []string) {
	n, runs := syncFlags("mutex", args, 200000)
	procs := syncHeader("sync.Mutex", runs)
	fmt.Printf("# mutex_handoff: ns per lock/unlock pair, 2 goroutines, Gosched inside\n")
	fmt.Printf("go_mutex_uncontended_procs%d ns_per_op %.1f\n", procs,
		syncMedian(goMutexUncontended, 50*n, runs, 1))
	handoffChanges, handoffPairs = 0, 0
	v := syncMedian(goMutexHandoff, n, runs, 2)
	fmt.Printf("# mutex_handoff: %.1f%% of the pairs changed owner\n",
		100*float64(handoffChanges)/float64(handoffPairs))
	fmt.Printf("go_mutex_handoff_procs%d ns_per_op %.1f\n", procs, v)
}

// ---- wait group ----

func goWgRound(n int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		wg.Done()
		wg.Wait()
	}
	return time.Since(t0)
}

func goWgPingPong(n int) time.Duration {
	var a, b, done sync.WaitGroup
	a.Add(1)
	b.Add(1)
	done.Add(1)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			// re-arm ours before releasing A, which releases us next
			a.Done()
			b.Wait()
			b.Add(1)
		}
		done.Done()
	}()
	for i := 0; i < n; i++ {
		a.Wait()
		a.Add(1)
		b.Done()
	}
	done.Wait()
	return time.Since(t0)
}

func syncWgBench(args []string) {
	n, runs := syncFlags("wg", args, 200000)
	procs := syncHeader("sync.WaitGroup", runs)
	fmt.Printf("# wg_pingpong: ns per round trip (2 parks + 2 wakes)\n")
	fmt.Printf("go_wg_round_procs%d ns_per_op %.1f\n", procs, syncMedian(goWgRound, 50*n, runs, 1))
	fmt.Printf("go_wg_pingpong_procs%d ns_per_op %.1f\n", procs, syncMedian(goWgPingPong, n, runs, 1))
}

package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles is a hidden debugging aid for finding where upload time
// goes: VIDUP_CPUPROFILE and VIDUP_MEMPROFILE name files that receive a
// pprof CPU profile of the whole run and an allocation profile at its end.
// The returned function writes them; it must run before os.Exit.
func startProfiles() func() {
	cpuPath, memPath := os.Getenv("VIDUP_CPUPROFILE"), os.Getenv("VIDUP_MEMPROFILE")
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vidup: VIDUP_CPUPROFILE %s: %v; unset it or name a writable file\n", cpuPath, err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath == "" {
			return
		}
		f, err := os.Create(memPath)
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "vidup: VIDUP_MEMPROFILE %s: %v; unset it or name a writable file\n", memPath, err)
		}
	}
}

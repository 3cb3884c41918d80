package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Result is what a scenario measured for one client variant: samples, or
// the reason there are none.
type Result struct {
	Client  string // e.g. "vidup", "mc (defaults)", "s5cmd (matched)"
	Samples []Sample
	// Unavailable or Failed explain a missing measurement; the table
	// prints them instead of numbers.
	Unavailable string
	Failed      string
}

// Median is the per-field median of the samples (each field on its own,
// so a slow run's CPU does not pull in its wall time).
func (r Result) Median() (Sample, bool) {
	if len(r.Samples) == 0 || r.Failed != "" {
		return Sample{}, false
	}
	pick := func(f func(Sample) int64) int64 {
		v := make([]int64, len(r.Samples))
		for i, s := range r.Samples {
			v[i] = f(s)
		}
		return median(v)
	}
	return Sample{
		Wall:      time.Duration(pick(func(s Sample) int64 { return int64(s.Wall) })),
		ClientCPU: time.Duration(pick(func(s Sample) int64 { return int64(s.ClientCPU) })),
		MaxRSS:    pick(func(s Sample) int64 { return s.MaxRSS }),
		ServerCPU: time.Duration(pick(func(s Sample) int64 { return int64(s.ServerCPU) })),
	}, true
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Scenario is one measured situation and its results.
type Scenario struct {
	Name  string
	Bytes int64 // uploaded per run, for throughput
	Files int
	// Skipped says why the scenario did not run (e.g. too little disk).
	Skipped string
	Results []Result
}

// WriteMarkdown prints the scenario as a Markdown table: medians, then the
// ratio of vidup's median to each peer's (below 1 means vidup used less).
func (s Scenario) WriteMarkdown(w io.Writer, baseline string) {
	fmt.Fprintf(w, "### %s\n\n", s.Name)
	if s.Skipped != "" {
		fmt.Fprintf(w, "skipped: %s\n\n", s.Skipped)
		return
	}
	base, haveBase := Sample{}, false
	for _, r := range s.Results {
		if r.Client == baseline {
			base, haveBase = r.Median()
		}
	}
	fmt.Fprintln(w, "| client | runs | wall | MB/s | client CPU | peak RSS | MinIO CPU | vidup/peer wall | vidup/peer CPU | vidup/peer RSS | vidup/peer MinIO CPU |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range s.Results {
		m, ok := r.Median()
		if !ok {
			why := r.Unavailable
			if why != "" {
				why = "unavailable (" + why + ")"
			} else {
				why = "failed (" + r.Failed + ")"
			}
			fmt.Fprintf(w, "| %s | %d | %s | | | | | | | | |\n", r.Client, len(r.Samples), cell(why))
			continue
		}
		ratios := []string{"", "", "", ""}
		if haveBase && r.Client != baseline {
			ratios = []string{
				ratio(float64(base.Wall), float64(m.Wall)),
				ratio(float64(base.ClientCPU), float64(m.ClientCPU)),
				ratio(float64(base.MaxRSS), float64(m.MaxRSS)),
				ratio(float64(base.ServerCPU), float64(m.ServerCPU)),
			}
		}
		mbps := ""
		if m.Wall > 0 {
			mbps = fmt.Sprintf("%.0f", float64(s.Bytes)/1e6/m.Wall.Seconds())
		}
		fmt.Fprintf(w, "| %s | %d | %.2f s | %s | %.2f s | %s | %.2f s | %s | %s | %s | %s |\n",
			r.Client, len(r.Samples), m.Wall.Seconds(), mbps, m.ClientCPU.Seconds(), mib(m.MaxRSS),
			m.ServerCPU.Seconds(), ratios[0], ratios[1], ratios[2], ratios[3])
	}
	fmt.Fprintln(w)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// cell keeps a free-text reason from breaking the table.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "/")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

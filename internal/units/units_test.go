package units

import (
	"strings"
	"testing"
	"time"
)

// TestOneWordOneMeaning is the promise of the package: a size flag and a
// rate flag read the same text as the same number of bytes.
func TestOneWordOneMeaning(t *testing.T) {
	for _, in := range []string{"64M", "64MiB", "64MB", "5G", "512K", "1T", "1048576B"} {
		s, err := ParseSize(in)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRate(in + "/s")
		if err != nil {
			t.Fatal(err)
		}
		if int64(s) != int64(r) {
			t.Errorf("%s: size %d bytes, rate %d bytes/s", in, s, r)
		}
	}
	if s, _ := ParseSize("64M"); s != 64<<20 {
		t.Errorf("64M = %d, want 64 MiB", s)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  bool
	}{
		{"16MiB", 16 << 20, false},
		{"64M", 64 << 20, false},
		{"64m", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"1gib", 1 << 30, false},
		{"500MB", 500_000_000, false},
		{"500mb", 500_000_000, false},
		{"2kB", 2000, false},
		{"5242880", 5 << 20, false},
		{"100B", 100, false},
		{" 8 MiB ", 8 << 20, false},
		{"1.5GiB", 0, true},
		{"-5MiB", 0, true},
		{"MiB", 0, true},
		{"lots", 0, true},
		{"", 0, true},
		{"10Mbit", 0, true},
		{"99999999999T", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		wantErr string
	}{
		{in: "", want: 0},
		{in: "0", want: 0},
		{in: "0MiB/s", want: 0},
		{in: " 50MiB/s ", want: 50 << 20},
		{in: "50 MiB/s", want: 50 << 20},
		{in: "400Mbit/s", want: 50_000_000},
		{in: "400Mbps", want: 50_000_000},
		{in: "1Gbit", want: 125_000_000},
		{in: "8Kibit/s", want: 1024},
		{in: "64M", want: 64 << 20},
		{in: "10m", want: 10 << 20},
		{in: "10MB", want: 10_000_000},
		{in: "10MBps", want: 10_000_000},
		{in: "1.5GB/s", want: 1_500_000_000},
		{in: "1.5GiB/s", want: 1536 << 20},
		{in: "2k", want: 2048},
		{in: "2kB", want: 2000},
		{in: "2Ki", want: 2048},
		{in: "2KiB/s", want: 2048},
		{in: "1T", want: 1 << 40},
		{in: "off", want: 0},
		{in: "OFF", want: 0},
		{in: "1000", wantErr: `no unit (1000M is 1000MiB/s, 1000MB/s is decimal, 1000Mbit/s is bits, 1000B/s is bytes)`},
		{in: "10/s", wantErr: "no unit"},
		{in: "1.5", wantErr: "no unit"},
		{in: "1000B/s", want: 1000},
		{in: "100bit/s", want: 12},
		{in: "10Mb/s", wantErr: `lowercase "b" is ambiguous`},
		{in: "10Mb", wantErr: `lowercase "b" is ambiguous`},
		{in: "10Mbps/s", wantErr: `"bps" already means per second`},
		{in: "-5MiB/s", wantErr: "cannot be negative"},
		{in: "fast", wantErr: "must start with a number"},
		{in: "1.2.3M", wantErr: `"1.2.3" is not a number`},
		{in: "5XB", wantErr: `unknown unit "XB"`},
		{in: "1e9", wantErr: `unknown unit "e9"`},
		{in: "4bit/s", wantErr: "below one byte per second"},
		{in: "99999999999999T", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "50MiB/s") {
					t.Fatalf("ParseRate(%q) = %d, %v; want an error containing %q and an example", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Size(64 << 20).String(), "64MiB"},
		{Size(5 << 30).String(), "5GiB"},
		{Size(1536 << 20).String(), "1536MiB"},
		{Size(1<<30 + 1).String(), "1.0GiB"},
		{Size(100).String(), "100B"},
		{Rate(64 << 20).String(), "64MiB/s"},
		{Rate(0).String(), "0"},
		{Bytes(812), "812 B"},
		{Bytes(6 << 20), "6.0 MiB"},
		{Bytes(85 << 20), "85 MiB"},
		{Bytes(1288490188), "1.2 GiB"},
		{Duration(34 * time.Second), "34s"},
		{Duration(5*time.Minute + 12*time.Second), "5m12s"},
		{Duration(2*time.Hour + 3*time.Minute), "2h03m"},
		{Duration(76*time.Hour + 10*time.Minute), "3d04h"},
		{Path("cams/clip 1.mp4"), "cams/clip 1.mp4"},
		{Path("évé.mp4"), "évé.mp4"},
		{Path("b\x1b[2J.mp4"), `"b\x1b[2J.mp4"`},
		{Path("a\rb"), `"a\rb"`},
		{Path("bad\xffutf8"), `"bad\xffutf8"`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSizeRoundTrips(t *testing.T) {
	for _, n := range []Size{0, 1, 1023, 5 << 20, 64 << 20, 5 << 30, 3 << 40} {
		back, err := ParseSize(n.String())
		if err != nil || back != n {
			t.Errorf("%d -> %q -> %d, %v", n, n.String(), back, err)
		}
	}
}

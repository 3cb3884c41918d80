package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/transfer"
)

// The document written one file at a time is the document written whole,
// byte for byte: scripts parse it, and its shape is documented
// (docs/output.md).
func TestStreamJSONDocumentIsTheDocument(t *testing.T) {
	uploaded := &runEntry{item: &asset.Item{Path: "/srv/in/a <&> b.mp4", Media: &asset.Media{Container: "mp4", Duration: 2500 * time.Millisecond, Complete: true}},
		result: &transfer.Result{Status: transfer.StatusUploaded, Key: "uploads/s/u/a.mp4", UploadID: "u", SessionID: "s", Size: 42,
			ETag: `"e"`, Checksum: &contract.Checksum{Algorithm: "CRC32C", Type: "FULL_OBJECT", Value: "kN0OnQ=="}, VideoID: "v"},
		movedTo: "/srv/done/a.mp4", processing: &processingJSON{Status: "ready"}}
	failed := &runEntry{item: &asset.Item{Path: "/srv/in/\xff.mov"}, result: &transfer.Result{Status: transfer.StatusFailed, Err: errors.New("S3 refused it")}}
	skipped := &runEntry{item: &asset.Item{Path: "b.mp4", Size: 7}, skip: "already uploaded", skipVideo: "v-b"}
	problem := &runEntry{item: &asset.Item{Path: "c.mp4"}, problem: errors.New("c.mp4: no such file")}
	pkg := &runEntry{item: &asset.Item{Path: "ladder", Kind: "hls", Objects: []*asset.Object{{Rel: "master.m3u8"}, {Rel: "seg-1.ts"}}},
		result: &transfer.Result{Status: transfer.StatusUploaded, Entry: "videos/x/master.m3u8", Size: 9}}
	interrupted := &runEntry{item: &asset.Item{Path: "d.mp4"}, result: &transfer.Result{Status: transfer.StatusInterrupted}}
	notRun := &runEntry{item: &asset.Item{Path: "e.mp4"}}

	for name, entries := range map[string][]*runEntry{
		"none":  nil,
		"one":   {uploaded},
		"every": {uploaded, failed, skipped, problem, pkg, interrupted, notRun},
	} {
		t.Run(name, func(t *testing.T) {
			elapsed := 1500 * time.Millisecond
			doc := newUploadDocument(entries, elapsed, false)
			summary := newUploadSummary(entries, elapsed, false)
			if summary != doc.Summary {
				t.Fatalf("summary %+v, the document's %+v", summary, doc.Summary)
			}
			var whole, streamed bytes.Buffer
			if err := writeJSONDocument(&whole, doc); err != nil {
				t.Fatal(err)
			}
			if err := streamJSONDocument(&streamed, entries, summary); err != nil {
				t.Fatal(err)
			}
			if streamed.String() != whole.String() {
				t.Fatalf("streamed document differs:\n%s\nwhole:\n%s", streamed.String(), whole.String())
			}
			var back uploadDocument
			if err := json.Unmarshal(streamed.Bytes(), &back); err != nil {
				t.Fatalf("streamed document does not parse: %v", err)
			}
			if len(back.Files) != len(entries) {
				t.Fatalf("%d files parsed back, want %d", len(back.Files), len(entries))
			}
		})
	}
}

package contract

// Media is what the uploader read of a video's container before sending it
// (contract v1.1, section 3): the registration's optional "media" object.
// Fields beyond container, duration_s, complete and streams are additions
// that a server may ignore.
type Media struct {
	Container string  `json:"container"`
	DurationS float64 `json:"duration_s,omitempty"`
	Complete  bool    `json:"complete"`
	// Incomplete says why Complete is false (sent only when a file was
	// uploaded although incomplete, at the user's request).
	Incomplete    *MediaIncomplete `json:"incomplete,omitempty"`
	Fragmented    bool             `json:"fragmented,omitempty"`
	FastStart     bool             `json:"faststart,omitempty"`
	StartTimecode string           `json:"start_timecode,omitempty"`
	Streams       []MediaStream    `json:"streams,omitempty"`
}

// MediaIncomplete is a machine-readable reason (empty, truncated,
// not_finalised, still_writing, corrupt) and a sentence for people.
type MediaIncomplete struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// MediaStream is one track of a video. Codec names follow ffprobe's.
type MediaStream struct {
	Type       string  `json:"type"` // video, audio, subtitle, data
	Codec      string  `json:"codec,omitempty"`
	Profile    string  `json:"profile,omitempty"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	FPS        float64 `json:"fps,omitempty"`
	SampleRate int     `json:"sample_rate,omitempty"`
	Channels   int     `json:"channels,omitempty"`
}
